"""Argument checks shared by builders and the CLI; each error names the argument, value and rule."""

from __future__ import annotations

import numbers
from collections.abc import Sequence


def positive_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` if it is not a positive int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def non_negative_int(name: str, value) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` naming ``name`` if it is not an int >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def positive_int_tuple(name: str, value, length: int | None = None) -> tuple[int, ...]:
    """Return ``value`` as a tuple of positive ints of the given ``length`` (any if None)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{name} must be a sequence of positive ints, got {value!r}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(value)}: {tuple(value)!r}")
    if len(value) == 0:
        raise ValueError(f"{name} must not be empty")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or item <= 0:
            raise ValueError(f"{name} must contain only positive ints, got {tuple(value)!r}")
    return tuple(int(item) for item in value)


def one_of(name: str, value, choices: Sequence) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        valid = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be one of {valid}, got {value!r}")
