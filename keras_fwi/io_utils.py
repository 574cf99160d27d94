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
