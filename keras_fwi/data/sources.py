"""Turn a user's ``source`` (split file, directory, or list of files) into seismic/velocity file pairs.

OpenFWI describes a split with a text file, one sample file per line: ``data.npy<TAB>model.npy``, or
only ``data.npy`` for unlabelled data. Relative paths resolve against the split file's folder first,
then the working directory (where OpenFWI's own scripts resolve them). A directory is searched for
OpenFWI's file names: ``data<i>.npy``/``model<i>.npy`` (also in ``data/`` and ``model/`` subfolders),
``seis<...>.npy``/``vel<...>.npy`` and ``<prefix>_data<i>.npy``/``<prefix>_velocity<i>.npy``.
Nothing here writes anything.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path

__all__ = ["FilePair", "resolve_sources"]

# A seismic file name holds "data" or "seis"; its velocity file has "model"/"velocity"/"vel" instead.
# Greedy prefixes match the *last* token, so "flatvel_data3" pairs with "flatvel_model3".
_SEISMIC_NAME = re.compile(r"^(.*)(data|seismic|seis)(.*)$", re.IGNORECASE)
_VELOCITY_NAME = re.compile(r"^(.*)(model|velocity|vel)(.*)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class FilePair:
    """One seismic file and its velocity file (None for unlabelled data)."""

    seismic: Path
    velocity: Path | None


def _natural_key(text: str):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _resolve_listed(path_text: str, base: Path) -> Path:
    path = Path(path_text).expanduser()
    if path.is_absolute():
        return path
    beside = base / path
    if beside.exists():
        return beside
    in_cwd = Path.cwd() / path
    return in_cwd if in_cwd.exists() else beside


def _read_split_file(split_file: Path) -> list[tuple[Path, Path | None]]:
    rows = []
    try:
        lines = split_file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:  # a binary file given as a split file: name it, not the codec
        hint = "; .mat files are read by the FCNVMB presets" if split_file.suffix.lower() == ".mat" else ""
        raise ValueError(f"{split_file} is not a split file (text with one 'data.npy<TAB>model.npy' per line) nor "
                         f"a directory of data<i>.npy/model<i>.npy{hint}") from None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [field.strip() for field in text.split("\t") if field.strip()]
        if len(fields) == 1 and re.fullmatch(r"\S+\.npy\s+\S+\.npy", text):
            raise ValueError(f"{split_file}, line {number}: separate the data and model paths with a TAB, as "
                             f"OpenFWI's split files do, not spaces: {text!r}")
        if len(fields) > 2:
            raise ValueError(f"{split_file}, line {number}: expected 'data.npy' or 'data.npy<TAB>model.npy', "
                             f"got {len(fields)} tab-separated fields: {text!r}")
        base = split_file.parent
        velocity = _resolve_listed(fields[1], base) if len(fields) == 2 else None
        rows.append((_resolve_listed(fields[0], base), velocity, number))
    if not rows:
        raise ValueError(f"split file {split_file} lists no files")
    labelled = [velocity is not None for _, velocity, _ in rows]
    if any(labelled) and not all(labelled):
        number = next(n for (_, velocity, n) in rows if velocity is None)
        raise ValueError(f"{split_file}, line {number}: data file without its model file, while other lines "
                         f"list 'data.npy<TAB>model.npy'; add the model file or list no model files at all")
    return [(seismic, velocity) for seismic, velocity, _ in rows]


def _scan_directory(folder: Path) -> list[tuple[Path, Path | None]]:
    candidates = [folder, folder / "data", folder / "model", folder / "seis", folder / "vel"]
    seismic, velocity = {}, {}
    for sub in candidates:
        if not sub.is_dir():
            continue
        for path in sorted(sub.glob("*.npy")):
            match = _SEISMIC_NAME.match(path.stem)
            target = seismic
            if match is None:
                match, target = _VELOCITY_NAME.match(path.stem), velocity
            if match is not None:
                target.setdefault(match.group(1) + "{}" + match.group(3), path)
    if not seismic:
        raise FileNotFoundError(f"no seismic .npy files found in {folder} (looked for data<i>.npy, seis<...>.npy "
                                f"and *_data<i>.npy there and in data/ and seis/ subfolders)")
    keys = sorted(seismic, key=_natural_key)
    # A model/ or vel/ folder says the set is labelled even if it is empty: unlabelled only when
    # nothing suggests velocity files should be there.
    if not velocity and not any((folder / name).is_dir() for name in ("model", "vel")):
        return [(seismic[key], None) for key in keys]
    orphans = [str(seismic[key]) for key in keys if key not in velocity]
    orphans += [f"{velocity[key]} (model file without a data file)" for key in velocity if key not in seismic]
    if orphans:
        raise ValueError(f"in {folder}, {len(orphans)} file(s) have no partner: data<i>.npy pairs with model<i>.npy, "
                         f"seis<...>.npy with vel<...>.npy: " + "; ".join(orphans))
    return [(seismic[key], velocity[key]) for key in keys]


def _from_sequence(items: Sequence) -> list[tuple[Path, Path | None]]:
    rows = []
    for index, item in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            rows.append((Path(item), None))
        elif isinstance(item, Sequence) and len(item) == 2:
            rows.append((Path(item[0]), None if item[1] is None else Path(item[1])))
        else:
            raise ValueError(f"source[{index}] must be a data path or a (data path, model path) pair, got {item!r}")
    if not rows:
        raise ValueError("source is an empty list; give at least one data file")
    labelled = [velocity is not None for _, velocity in rows]
    if any(labelled) and not all(labelled):
        index = labelled.index(False)
        raise ValueError(f"source[{index}] ({rows[index][0]}) is a data file without its model file, while other "
                         f"entries are (data, model) pairs")
    return rows


def resolve_sources(source, labels: bool | None = None) -> list[FilePair]:
    """Resolve ``source`` into file pairs, checking that every listed file exists.

    Args:
        source: an OpenFWI split file (text), a directory, or a list of data paths or
            (data path, model path) pairs.
        labels: True to require velocity files, False to ignore them (prediction), None to use
            them when the source has them.

    Returns:
        List of ``FilePair`` in source order (directories: natural order, data2 before data10).

    Raises:
        FileNotFoundError: ``source`` or any listed file does not exist (all missing files are listed).
        ValueError: a malformed split file or list, a data file without its model file, or labels
            required but the source has none.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if path.is_dir():
            rows = _scan_directory(path)
        elif path.is_file():
            if path.suffix.lower() in (".npy", ".npz"):
                raise ValueError(f"source {path} is an array file; pass a split file (one 'data.npy<TAB>model.npy' "
                                 f"per line), a directory, or a list such as [({str(path)!r}, 'model.npy')]")
            rows = _read_split_file(path)
        else:
            raise FileNotFoundError(f"source {path} does not exist (expected a split file, a directory or a list)")
    elif isinstance(source, Sequence):
        rows = _from_sequence(source)
    else:
        raise ValueError(f"source must be a split file, a directory or a list of files, got {type(source).__name__}")

    if labels and any(velocity is None for _, velocity in rows):
        first = next(seismic for seismic, velocity in rows if velocity is None)
        raise ValueError(f"labels=True but the source gives data files without model files, e.g. {first}")
    if labels is False:
        rows = [(seismic, None) for seismic, _ in rows]
    missing = [str(p) for pair in rows for p in pair if p is not None and not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} file(s) not found: " + ", ".join(missing))
    return [FilePair(seismic, velocity) for seismic, velocity in rows]
