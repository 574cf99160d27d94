"""Keras' progress bar, as plain text when stdout is not a terminal (a log file, CI, a pipe)."""

from __future__ import annotations

import contextlib
import io
import re
import sys

import keras

__all__ = ["PlainProgbar", "is_terminal", "progress_bar"]

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def is_terminal() -> bool:
    return hasattr(sys.stdout, "isatty") and sys.stdout.isatty()


class PlainProgbar(keras.utils.Progbar):
    """Keras' progress bar for a log file: no ANSI colour codes, no backspaces or carriage returns.

    Keras writes both whenever ``"posix" in sys.modules`` (every Linux and macOS), terminal or not.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._dynamic_display = False

    def update(self, current, values=None, finalize=None):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            super().update(current, values, finalize)
        text = _ANSI_ESCAPE.sub("", buffer.getvalue())
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()


def progress_bar(target: int, **kwargs) -> keras.utils.Progbar:
    """A ``keras.utils.Progbar`` on a terminal, a ``PlainProgbar`` elsewhere."""
    return (keras.utils.Progbar if is_terminal() else PlainProgbar)(target, **kwargs)
