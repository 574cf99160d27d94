"""Tiny OpenFWI-format files for tests: FlatVel-A-shaped samples with layered velocity maps."""

import numpy as np


def write_openfwi_files(folder, files: int, per_file: int, seed: int = 0) -> list[str]:
    """Write ``data{i}.npy`` (per_file, 5, 1000, 70) and ``model{i}.npy`` (per_file, 1, 70, 70), i = 1..files.

    Seismic amplitudes are uniform within FlatVel-A's range; velocities increase with depth in
    1500–4500 m/s. Returns the split-file lines ``data{i}.npy<TAB>model{i}.npy``.
    """
    rng = np.random.default_rng(seed)
    lines = []
    for number in range(1, files + 1):
        profile = np.sort(rng.uniform(1500, 4500, (per_file, 70)), axis=1)
        np.save(folder / f"data{number}.npy", rng.uniform(-20, 40, (per_file, 5, 1000, 70)).astype("float32"))
        np.save(folder / f"model{number}.npy", profile[:, None, :, None].repeat(70, axis=3).astype("float32"))
        lines.append(f"data{number}.npy\tmodel{number}.npy")
    return lines
