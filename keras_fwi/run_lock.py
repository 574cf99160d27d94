"""One writer per run directory: an advisory file lock held for a run's whole life.

``keras_fwi train`` holds ``RunLock(run_dir)`` from before it reads the run directory until it exits,
so a second process on the same directory stops at once with one line naming the holder, instead of
both runs writing and mixing their files. The lock is the operating system's (``flock`` on POSIX,
``msvcrt.locking`` on Windows): it ends with the process however the process ends, so the lock file a
killed run leaves behind (``.keras_fwi.lock``, which records who held it) is taken over by the next run.
Where the file system offers no locks, the recorded process is checked instead: a lock of a process no
longer running on this host is recovered, anything else is refused with the file to remove.

>>> with RunLock("runs/quickstart", "keras_fwi train"):
...     ...  # the only writer of runs/quickstart
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import socket
import sys
from pathlib import Path

__all__ = ["LOCK_NAME", "RunInUse", "RunLock"]

LOCK_NAME = ".keras_fwi.lock"
_CONTENDED = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


class RunInUse(OSError):
    """Another live process holds the run directory's lock; the message names it."""


def _try_lock(fd: int) -> bool | None:
    """True: locked; False: another process holds it; None: this file system offers no locks."""
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        return False if error.errno in _CONTENDED else None
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return (f"{holder.get('command', 'a keras_fwi process')} (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, since {holder.get('started', '?')})")


class RunLock:
    """Context manager: hold the lock of ``folder`` (created if missing) or raise ``RunInUse``.

    Args:
        folder: the run directory.
        command: how the holder is named to a process that finds the lock taken.

    Raises:
        RunInUse: a live process holds the lock (the message names it and what to do).
        NotADirectoryError: ``folder`` is a file.
    """

    def __init__(self, folder, command: str = "keras_fwi"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command
        self._fd: int | None = None
        self._created_folder = False

    def __enter__(self) -> "RunLock":
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"run directory {self.folder} is a file; give a folder (--run-dir)")
        self._created_folder = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            locked = _try_lock(fd)
            if locked is None:  # no OS locks here: the record decides, and a stale one needs a hand
                locked = not self._held_by_live_process()
                gone = f" (if that process is gone, delete {self.path})"
            else:
                gone = ""
            if not locked:
                holder = self.holder()
                os.close(fd)
                raise RunInUse(f"run directory {self.folder} is in use by {_describe(holder)}; wait for it to end "
                               f"or choose another --run-dir{gone}")
            if self._same_file(fd):
                self._fd = fd
            else:  # the previous holder removed the file between our open and our lock: take the new one
                os.close(fd)
        self._record()
        return self

    def _same_file(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _held_by_live_process(self) -> bool:
        """Without OS locks: whether the recorded holder still runs (unknown hosts count as running)."""
        holder = self.holder()
        if not holder or holder.get("pid") == os.getpid():
            return False
        if holder.get("host") != socket.gethostname():
            return True
        return _alive(int(holder.get("pid", -1)))

    def _record(self) -> None:
        started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": started,
                  "command": self.command or " ".join(sys.argv)}
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, json.dumps(record).encode("utf-8"))

    def holder(self) -> dict:
        """The holder's record (pid, host, started, command); ``{}`` if none can be read."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def __exit__(self, *exc_info) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Remove the file before unlocking: a process that opened it meanwhile finds it gone and retries.
        # (Windows cannot remove an open file: there it goes after closing.)
        if os.name != "nt":
            self.path.unlink(missing_ok=True)
        os.close(fd)
        if os.name == "nt":
            try:
                self.path.unlink(missing_ok=True)
            except OSError:
                pass
        if self._created_folder:
            try:
                self.folder.rmdir()  # a failed start leaves no folder it made (only if still empty)
            except OSError:
                pass
