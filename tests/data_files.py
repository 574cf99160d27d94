"""Tiny OpenFWI-format files for the data tests, written into a test's own tmp_path."""

from pathlib import Path

import numpy as np

from keras_fwi.data import get_preset

# A small survey with OpenFWI's structure, so most tests move kilobytes, not megabytes.
SMALL = get_preset("flatvel-a").replace(name="small", shots=3, time_samples=40, receivers=9, velocity_shape=(6, 9),
                                        source_cells=(0, 4, 8))


def write_pair(folder: Path, index: int, samples: int, preset=SMALL, seed: int = 0, stem=("data", "model")):
    """Write ``data<index>.npy`` / ``model<index>.npy``; sample i's velocities are offset by its id."""
    rng = np.random.default_rng(seed + index)
    seismic = rng.standard_t(3, size=(samples, *preset.seismic_shape)).astype(np.float32) * 5
    velocity = rng.uniform(1600, 4400, size=(samples, *preset.velocity_sample_shape)).astype(np.float32)
    # Tag each sample so tests can tell which (file, sample) a batch row came from.
    velocity[:, 0, 0, 0] = 1500 + 100 * index + samples_ids(samples)
    seismic_path, velocity_path = folder / f"{stem[0]}{index}.npy", folder / f"{stem[1]}{index}.npy"
    np.save(seismic_path, seismic)
    np.save(velocity_path, velocity)
    return seismic_path, velocity_path


def samples_ids(samples: int) -> np.ndarray:
    return np.arange(samples, dtype=np.float32)


def write_dataset(folder: Path, files: int = 3, samples: int = 5, preset=SMALL):
    """Write ``files`` pairs and return them as a list of (data path, model path)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_pair(folder, i, samples, preset) for i in range(1, files + 1)]


def tag(velocity_raw) -> list[tuple[int, int]]:
    """(file index, sample index) of each raw velocity sample written by ``write_pair``."""
    values = np.asarray(velocity_raw)[:, 0, 0, 0] - 1500
    return [(int(v // 100), int(round(v % 100))) for v in values]
