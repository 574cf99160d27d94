"""File-safety helpers: nothing a user has is overwritten silently, and writes are atomic."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def refuse_to_clobber(path: str | os.PathLike, overwrite: bool) -> Path:
    """Return ``path`` as a Path; raise ``FileExistsError`` if it exists and ``overwrite`` is False."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass --overwrite (overwrite=True) to replace it")
    return path


def check_output_folder(folder: str | os.PathLike, what: str = "--out") -> Path:
    """Check, before any computing, that files can be written into ``folder``; create nothing.

    The folder may be missing (it is made when the first file is written): then its nearest existing
    parent must be a writable folder. Writability is probed with a temporary file that is removed at
    once, since ``os.access`` says yes to root on a read-only file system.

    Raises:
        NotADirectoryError: ``folder``, or a parent of it, is a file.
        PermissionError: nothing can be written there (read-only folder or file system).
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        named = "is a file" if existing == folder else f"cannot be made: {existing} is a file"
        raise NotADirectoryError(f"{what} {folder} {named}; give a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".keras_fwi-write-check.", dir=existing)
    except OSError as error:
        raise PermissionError(f"{what} {folder}: cannot write in {existing} ({error.strerror}); choose a "
                              "writable folder") from None
    os.close(fd)
    os.unlink(probe)
    return folder


def check_output_file(path: str | os.PathLike, overwrite: bool, what: str = "--out") -> Path:
    """``refuse_to_clobber`` plus ``check_output_folder`` on the file's folder; also refuses a directory."""
    path = refuse_to_clobber(path, overwrite)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; give a file name")
    check_output_folder(path.parent, what=f"the folder of {what} {path},")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path`` atomically.

    The temporary file, ``.{name}.<random>.tmp{suffixes}``, keeps the target's suffixes (Keras
    decides the format from them). If the body
    raises, the temporary file is removed and ``path`` is left untouched.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = refuse_to_clobber(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Keep every suffix: Keras picks the format from ".keras" / ".weights.h5".
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{''.join(path.suffixes)}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as keras.Model.save want to create the file themselves
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
