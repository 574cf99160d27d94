"""Dataset presets: the published constants of OpenFWI and FCNVMB, loaded by name from package YAML.

The constants are data (``configs/datasets/*.yaml``, installed as ``keras_fwi.configs``), not code, and this module imports
neither TensorFlow nor Keras, so TensorFlow-free tools (the ONNX runtime) can share them.

>>> preset = get_preset("flatvel-a")
>>> preset.data_min, preset.data_max, preset.seismic_shape
(-26.95, 52.77, (5, 1000, 70))
"""

from __future__ import annotations

import dataclasses
import functools
from importlib import resources

import yaml

__all__ = ["DatasetPreset", "get_preset", "preset_from_dict", "preset_names"]

_PRESET_FILES = ("openfwi.yaml", "fcnvmb.yaml")


@dataclasses.dataclass(frozen=True)
class DatasetPreset:
    """Constants of one dataset: survey geometry, normalisation ranges and published split.

    Attributes:
        name: preset name, e.g. ``"flatvel-a"``.
        format: file format family, ``"openfwi"`` (.npy) or ``"fcnvmb"`` (.mat).
        family: dataset family (``"vel"``, ``"fault"``, ``"style"``, ``"fcnvmb"``).
        shots: sources per sample.
        time_samples: samples per trace as the model sees them (after any decimation).
        receivers: receivers per shot.
        velocity_shape: (depth, width) of the velocity map in cells.
        data_min, data_max: raw seismic amplitude range used for normalisation, or None.
        label_min, label_max: velocity range in m/s, or None (then unchecked and not normalisable).
        samples_per_file: samples in each published file (informational; headers decide).
        dt: time step in s, or None. dx: cell size in m.
        frequency: source peak frequency in Hz, or None.
        source_depth, receiver_depth: m, or None. boundary_cells: absorbing cells, or None.
        source_cells: source positions in receiver cells (needed for horizontal flips), or None.
        normalize: whether the reference trains on normalised data (OpenFWI) or raw (FCNVMB).
        log_k: k of the seismic log transform ``sign(x) log1p(k |x|)``.
        train_files, test_files: inclusive (first, last) file numbers of the published split.
        raw_time_samples, time_decimation, receiver_decimation: FCNVMB's stored size and decimation.
        seismic_variable, velocity_variable: FCNVMB ``.mat`` variable names.
        seismic_file_prefix, velocity_file_prefix: FCNVMB file name stems.
    """

    name: str
    format: str
    family: str
    shots: int
    time_samples: int
    receivers: int
    velocity_shape: tuple[int, int]
    data_min: float | None = None
    data_max: float | None = None
    label_min: float | None = None
    label_max: float | None = None
    samples_per_file: int | None = None
    dt: float | None = None
    dx: float | None = None
    frequency: float | None = None
    source_depth: float | None = None
    receiver_depth: float | None = None
    boundary_cells: int | None = None
    source_cells: tuple[int, ...] | None = None
    normalize: bool = True
    log_k: float = 1.0
    train_files: tuple[int, int] | None = None
    test_files: tuple[int, int] | None = None
    raw_time_samples: int | None = None
    time_decimation: int = 1
    receiver_decimation: int = 1
    seismic_variable: str | None = None
    velocity_variable: str | None = None
    seismic_file_prefix: str | None = None
    velocity_file_prefix: str | None = None

    @property
    def seismic_shape(self) -> tuple[int, int, int]:
        """Shape of one seismic sample, (shots, time, receivers)."""
        return (self.shots, self.time_samples, self.receivers)

    @property
    def velocity_sample_shape(self) -> tuple[int, int, int]:
        """Shape of one velocity sample, (1, depth, width)."""
        return (1, *self.velocity_shape)

    def survey_fields(self) -> dict:
        """The survey that made this dataset, as ``keras_fwi.physics.Survey`` arguments (cells, s, Hz):
        one definition of the geometry. The absorbing layer is the one the dataset was made with,
        OpenFWI's damping layer of ``boundary_cells``.

        Receivers sit on every surface cell (OpenFWI's layout); depths are rounded to cells of ``dx``.

        Raises:
            ValueError: the preset lacks a constant the survey needs (FCNVMB's record no dt or frequency).
        """
        needed = ("dx", "dt", "frequency", "source_depth", "receiver_depth", "boundary_cells", "source_cells")
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"dataset {self.name!r} does not record {', '.join(missing)}, which a survey needs")
        return dict(nz=self.velocity_shape[0], nx=self.velocity_shape[1], dx=self.dx, nt=self.time_samples,
                    dt=self.dt, frequency=self.frequency, source_z=round(self.source_depth / self.dx),
                    source_x=tuple(self.source_cells), receiver_z=round(self.receiver_depth / self.dx),
                    receiver_x=tuple(range(self.receivers)), absorbing="damping", boundary=self.boundary_cells)

    def replace(self, **changes) -> "DatasetPreset":
        """Return a copy with ``changes`` applied (unknown field names raise ``TypeError``)."""
        return dataclasses.replace(self, **changes)


_TUPLE_FIELDS = ("velocity_shape", "source_cells", "train_files", "test_files")


def _from_mapping(name: str, entry: dict) -> DatasetPreset:
    known = {field.name for field in dataclasses.fields(DatasetPreset)}
    unknown = sorted(set(entry) - known)
    if unknown:  # a typo in a shipped YAML must not silently drop a constant
        raise ValueError(f"dataset preset {name!r} has unknown keys {unknown}")
    values = dict(entry)
    for key in _TUPLE_FIELDS:
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return DatasetPreset(name=name, **values)


def preset_from_dict(values: dict) -> DatasetPreset:
    """Inverse of ``dataclasses.asdict(preset)``: a preset recorded in an artefact (JSON).

    Raises:
        ValueError: no ``name``, or unknown keys (named).
    """
    if not isinstance(values, dict) or not isinstance(values.get("name"), str):
        raise ValueError(f"a recorded preset must be a mapping with a 'name', got {values!r:.200}")
    entry = {key: value for key, value in values.items() if key != "name"}
    return _from_mapping(values["name"], entry)


@functools.cache
def _all_presets() -> dict[str, DatasetPreset]:
    presets: dict[str, DatasetPreset] = {}
    folder = resources.files("keras_fwi.configs").joinpath("datasets")
    for file_name in _PRESET_FILES:
        document = yaml.safe_load(folder.joinpath(file_name).read_text(encoding="utf-8"))
        for name, entry in document["presets"].items():
            presets[name] = _from_mapping(name, entry)
    return presets


def preset_names() -> tuple[str, ...]:
    """Names of all shipped dataset presets, sorted."""
    return tuple(sorted(_all_presets()))


def get_preset(name: str | DatasetPreset) -> DatasetPreset:
    """Return the preset called ``name`` (a ``DatasetPreset`` is returned unchanged).

    Args:
        name: str, a preset name such as ``"flatvel-a"`` or ``"fcnvmb-seg-salt"``, case-insensitive;
            OpenFWI's underscore spelling (``"flatvel_a"``) is accepted too.

    Returns:
        The frozen ``DatasetPreset``.

    Raises:
        ValueError: ``name`` is not a known preset; the message lists the known ones.
    """
    if isinstance(name, DatasetPreset):
        return name
    if not isinstance(name, str):
        raise ValueError(f"dataset must be a preset name or a DatasetPreset, got {name!r}")
    presets = _all_presets()
    key = name.strip().lower().replace("_", "-")
    if key not in presets:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(presets))}")
    return presets[key]
