"""An independent held-out set: maps no keras_fwi generator drew, seismic no keras_fwi code simulated.

Velocity maps come from this file's own generator (its own layer-count, thickness and velocity
laws, written without looking at ``keras_fwi.physics.families``): FlatVel-A-type (flat layers,
velocity increasing with depth) and CurveVel-A-type (the same layers bent by one sine per map).
Shot gathers come from deepwave with a 120-cell PML on OpenFWI's survey (70 x 70 cells of 10 m,
5 shots, 70 receivers, 1000 steps of 1 ms, 15 Hz Ricker), negated and advanced one sample into
OpenFWI's convention. Files are written in OpenFWI's layout (``data1.npy``/``model1.npy``).

    python benchmarks/holdout.py build --out ~/.cache/keras_fwi/holdout --samples 64
    python benchmarks/holdout.py evaluate --out ~/.cache/keras_fwi/holdout --model runs/quickstart/model.keras \
        --train-split runs/quickstart/data.json [--damping]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

NZ = NX = 70
V_LOW, V_HIGH = 1500.0, 4500.0


def _layer_boundaries(rng: np.random.Generator) -> np.ndarray:
    """Depths (cells) where each layer below the first starts: 1-4 interfaces, thickness >= 6 cells,
    thicknesses from a flat Dirichlet split of the column."""
    interfaces = int(rng.integers(1, 5))
    spare = NZ - 6 * (interfaces + 1)
    thickness = 6 + np.floor(rng.dirichlet(np.ones(interfaces + 1)) * spare).astype(int)
    return np.cumsum(thickness)[:-1]


def _layer_speeds(rng: np.random.Generator, layers: int) -> np.ndarray:
    """Top speed uniform in 1500-3000 m/s; each layer faster than the one above by a gamma-distributed
    step (mean 450 m/s), capped at 4500."""
    speeds = rng.uniform(V_LOW, 3000.0) + np.concatenate([[0.0], np.cumsum(rng.gamma(3.0, 150.0, layers - 1))])
    return np.minimum(speeds, V_HIGH)


def independent_map(rng: np.random.Generator, curved: bool) -> np.ndarray:
    """One (70, 70) map in m/s, float32."""
    boundaries = _layer_boundaries(rng)
    speeds = _layer_speeds(rng, len(boundaries) + 1)
    x = np.arange(NX)
    bend = np.zeros(NX)
    if curved:
        bend = rng.uniform(2.0, 8.0) * np.sin(2 * np.pi * x / rng.uniform(40.0, 140.0) + rng.uniform(0, 2 * np.pi))
    depth = np.arange(NZ)[:, None]
    layer = np.zeros((NZ, NX), int)
    for start in boundaries:
        layer += depth >= start + bend[None, :]
    return speeds[layer].astype(np.float32)


def deepwave_seismic(maps: np.ndarray) -> np.ndarray:
    """(N, 5, 1000, 70) float32 on OpenFWI's survey from deepwave with a 120-cell PML, in OpenFWI's
    convention (deepwave injects -v^2 dt^2 w and records one step later)."""
    import deepwave
    import torch

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    source_x = np.around(np.linspace(0, NX - 1, 5)).astype(int)
    sources = torch.tensor(np.stack([np.ones(5, int), source_x], axis=1)[:, None, :])
    receivers = torch.tensor(np.stack([np.ones(NX, int), np.arange(NX)], axis=1)[None].repeat(5, axis=0))
    half = int(np.floor(1.1 / (15.0 * 1e-3)))
    lag = (np.arange(2 * half + 1) - half) * 1e-3
    ricker = np.zeros(1001)  # one step more: deepwave records one step late
    ricker[:2 * half + 1] = (1 - 2 * (np.pi * 15.0 * lag) ** 2) * np.exp(-(np.pi * 15.0 * lag) ** 2)
    wavelet = torch.tensor(ricker, dtype=torch.float32)[None, None].repeat(5, 1, 1)
    out = np.zeros((len(maps), 5, 1000, NX), np.float32)
    for i, velocity in enumerate(maps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = deepwave.scalar(torch.tensor(velocity), 10.0, 1e-3, source_amplitudes=wavelet,
                                   source_locations=sources, receiver_locations=receivers, accuracy=4,
                                   pml_width=120, pml_freq=15.0)[-1].numpy()
        out[i] = -np.transpose(data, (0, 2, 1))[:, 1:]
    return out


def build(out: Path, samples: int, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for index, (kind, curved) in enumerate((("flat", False), ("curved", True)), start=1):
        if (out / f"model{index}.npy").is_file():
            continue
        rng = np.random.default_rng([seed, index])
        maps = np.stack([independent_map(rng, curved) for _ in range(samples)])
        began = time.perf_counter()
        seismic = deepwave_seismic(maps)
        print(f"{kind}: {samples} maps simulated by deepwave in {time.perf_counter() - began:.0f} s")
        np.save(out / f"data{index}.npy", seismic)
        np.save(out / f"model{index}.npy", maps[:, None])
    (out / "holdout.json").write_text(json.dumps({"files": {"data1.npy": "flatvel-a-type", "data2.npy":
                                                            "curvevel-a-type"}, "samples": samples, "seed": seed,
                                                  "simulator": "deepwave.scalar, 120-cell PML, accuracy 4"}, indent=2))


def _mean_training_map(split: Path) -> np.ndarray:
    """The mean map (m/s) of the model files a split file lists (tab-separated data, model paths)."""
    total, count = 0.0, 0
    for line in split.read_text().splitlines():
        if line.strip():
            model_path = Path(line.split("\t")[1])
            model_path = model_path if model_path.is_absolute() else split.parent / model_path
            maps = np.load(model_path, allow_pickle=False, mmap_mode="r")
            total, count = total + maps.sum(axis=0), count + len(maps)
    return np.asarray(total / count)


def openfwi_damping_seismic(out: Path, data_file: str) -> np.ndarray:
    """The same maps simulated with OpenFWI's own 120-cell damping layer (keras_fwi reproduces OpenFWI's
    code bit for bit there), cached beside the deepwave files: OpenFWI's data carry this layer's late
    reflections, which no PML makes."""
    path = out / data_file.replace("data", "damping")
    if not path.is_file():
        from keras_fwi.physics import Survey, simulate

        maps = np.load(out / data_file.replace("data", "model"), allow_pickle=False)[:, 0]
        survey = Survey.openfwi(absorbing="damping")
        np.save(path, np.concatenate([simulate(maps[i:i + 8], survey).numpy() for i in range(0, len(maps), 8)]))
    return np.load(path, allow_pickle=False)


def evaluate(out: Path, model_path: str, train_split: Path, dataset: str = "flatvel-a",
             damping: bool = False) -> dict:
    import keras

    import keras_fwi  # noqa: F401  (registers custom objects)
    from keras_fwi.data import denormalize_velocity, normalize_seismic

    model = keras.saving.load_model(model_path, compile=False)
    mean_map = _mean_training_map(train_split)
    results = {}
    for data_file, kind in json.loads((out / "holdout.json").read_text())["files"].items():
        truth = np.load(out / data_file.replace("data", "model"), allow_pickle=False)
        sources = {"deepwave PML": np.load(out / data_file, allow_pickle=False)}
        if damping:
            sources["OpenFWI damping"] = openfwi_damping_seismic(out, data_file)
        for source, seismic in sources.items():
            predicted = denormalize_velocity(model.predict(normalize_seismic(seismic, dataset), verbose=0), dataset)
            mae = float(np.abs(predicted - truth).mean())
            baseline = float(np.abs(mean_map - truth).mean())
            results[f"{kind}, {source}"] = {"mae_m_per_s": mae, "mean_map_mae_m_per_s": baseline,
                                            "ratio": mae / baseline}
            print(f"{kind:16s} {source:16s} MAE {mae:7.1f} m/s   mean-map baseline {baseline:7.1f} m/s   "
                  f"ratio {mae / baseline:.2f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("build", "evaluate"))
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "keras_fwi" / "holdout")
    parser.add_argument("--samples", type=int, default=64, help="maps per kind (build)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--model", help="a .keras model (evaluate)")
    parser.add_argument("--train-split", type=Path, help="the split file the model trained on (evaluate): "
                                                          "its mean map is the baseline")
    parser.add_argument("--damping", action="store_true", help="also evaluate on the maps simulated with OpenFWI's "
                                                                 "own 120-cell damping layer (evaluate)")
    args = parser.parse_args()
    if args.action == "build":
        build(args.out, args.samples, args.seed)
    else:
        evaluate(args.out, args.model, args.train_split, damping=args.damping)


if __name__ == "__main__":
    main()
