"""Data pipeline throughput: keras_fwi.data.openfwi_dataset against a PyTorch DataLoader and the training rate.

Writes OpenFWI-shaped files (``data<i>.npy`` (N, 5, 1000, 70) and ``model<i>.npy`` (N, 1, 70, 70),
float32) into a temporary folder (never the repository), then, in one process, measures one epoch of:

    keras-cold     openfwi_dataset, memory-mapped, files evicted from the page cache first
                   (posix_fadvise DONTNEED; residency reported with fincore when available)
    keras-warm     the same, files in the page cache
    keras-raw      warm, normalize=False (the read cost alone)
    keras-cache    cache=True, an epoch after the one that filled the cache
    torch-loader   the peer: torch.utils.data.DataLoader over a map-style Dataset that memory-maps the
                   same files and applies OpenFWI's NumPy transforms per sample (OpenFWI's recipe;
                   its own FWIDataset with preload=False re-reads a whole file per sample)
    train          model.fit steps of the full-width InversionNet on one in-memory batch: the rate
                   the pipeline has to feed on this machine

and prints samples/s, GB/s of raw file bytes, and the ratios pipeline/training and keras/torch.

Usage:
    python benchmarks/bench_data.py --files 4 --samples 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SEISMIC_SHAPE, VELOCITY_SHAPE = (5, 1000, 70), (1, 70, 70)
SAMPLE_BYTES = 4 * (np.prod(SEISMIC_SHAPE) + np.prod(VELOCITY_SHAPE))


def write_files(folder: Path, files: int, samples: int) -> list[tuple[Path, Path]]:
    rng = np.random.default_rng(0)
    pairs = []
    for index in range(1, files + 1):
        seismic = rng.standard_t(3, size=(samples, *SEISMIC_SHAPE)).astype(np.float32)
        velocity = rng.uniform(1500, 4500, size=(samples, *VELOCITY_SHAPE)).astype(np.float32)
        pairs.append((folder / f"data{index}.npy", folder / f"model{index}.npy"))
        np.save(pairs[-1][0], seismic)
        np.save(pairs[-1][1], velocity)
    return pairs


def evict(pairs) -> str:
    """Drop the files' clean pages from the page cache; return fincore's residency summary if available."""
    for pair in pairs:
        for path in pair:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    if shutil.which("fincore") is None:
        return "fincore not available"
    result = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES",
                             *[str(p) for pair in pairs for p in pair]], capture_output=True, text=True, check=False)
    resident = sum(int(v) for v in result.stdout.split() if v.isdigit())
    return f"{resident / 2**20:.1f} MiB resident after eviction"


def epoch_rate(dataset) -> float:
    """Samples/s for one pass over ``dataset`` (batches are materialised on the host)."""
    start, count = time.perf_counter(), 0
    for seismic, _ in dataset:
        count += int(seismic.shape[0])
    return count / (time.perf_counter() - start)


def keras_rates(pairs, batch_size: int) -> dict[str, float]:
    from keras_fwi.data import openfwi_dataset

    rates = {}
    note = evict(pairs)
    ds = openfwi_dataset(pairs, dataset="flatvel-a", batch_size=batch_size, seed=0, check_values="stream")
    rates["keras-cold"] = epoch_rate(ds)
    rates["keras-warm"] = epoch_rate(ds)
    raw = openfwi_dataset(pairs, dataset="flatvel-a", batch_size=batch_size, seed=0, normalize=False,
                          check_values="stream")
    rates["keras-raw"] = epoch_rate(raw)
    cached = openfwi_dataset(pairs, dataset="flatvel-a", batch_size=batch_size, seed=0, cache=True,
                             check_values="stream")
    epoch_rate(cached)  # fills the cache
    rates["keras-cache"] = epoch_rate(cached)
    del ds, raw, cached
    gc.collect()
    print(f"  eviction: {note}")
    return rates


class _TorchFiles:
    """Map-style torch Dataset: memory-mapped files, OpenFWI's NumPy transforms per sample."""

    def __init__(self, pairs):
        from keras_fwi.data import normalize_seismic, normalize_velocity

        self.pairs = pairs
        self.seismic = self.velocity = None
        self.counts = [int(np.load(d, mmap_mode="r").shape[0]) for d, _ in pairs]
        self.normalize = normalize_seismic, normalize_velocity

    def __len__(self):
        return sum(self.counts)

    def __getitem__(self, index):
        if self.seismic is None:  # opened lazily so each worker maps its own
            self.seismic = [np.load(d, mmap_mode="r") for d, _ in self.pairs]
            self.velocity = [np.load(m, mmap_mode="r") for _, m in self.pairs]
        file_id, sample = divmod(index, self.counts[0])
        seismic = self.normalize[0](np.array(self.seismic[file_id][sample]), "flatvel-a")
        velocity = self.normalize[1](np.array(self.velocity[file_id][sample]), "flatvel-a")
        return seismic, velocity


def torch_rate(pairs, batch_size: int, workers: int) -> float:
    import torch

    loader = torch.utils.data.DataLoader(_TorchFiles(pairs), batch_size=batch_size, shuffle=True,
                                         num_workers=workers, generator=torch.Generator().manual_seed(0))
    epoch_rate(loader)  # worker start-up and page cache, as keras-warm
    return epoch_rate(loader)


def training_rate(batch_size: int, steps: int) -> float:
    import keras
    import tensorflow as tf

    import keras_fwi.models

    model = keras_fwi.models.inversionnet()
    model.compile(optimizer=keras.optimizers.AdamW(1e-4, weight_decay=1e-4), loss="mae", jit_compile=True)
    rng = np.random.default_rng(0)
    batch = (rng.uniform(-1, 1, (batch_size, *SEISMIC_SHAPE)).astype(np.float32),
             rng.uniform(-1, 1, (batch_size, *VELOCITY_SHAPE)).astype(np.float32))
    data = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(data, steps_per_epoch=1, epochs=1, verbose=0)  # trace and compile
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--samples", type=int, default=64, help="samples per file (OpenFWI: 500)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--torch-workers", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=3)
    args = parser.parse_args(argv)

    import tensorflow as tf
    import torch

    total_gb = args.files * args.samples * SAMPLE_BYTES / 1e9
    print(f"TF {tf.__version__}, torch {torch.__version__}, cores {os.cpu_count()}, {args.files} files x "
          f"{args.samples} samples ({total_gb:.2f} GB), batch {args.batch_size}, {args.rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="keras_fwi_bench_data_") as folder:
        rates: dict[str, list[float]] = {}
        for round_index in range(args.rounds):
            # Fresh files each round: pages an earlier round's pipelines still map cannot be evicted.
            (Path(folder) / str(round_index)).mkdir()
            pairs = write_files(Path(folder) / str(round_index), args.files, args.samples)
            round_rates = keras_rates(pairs, args.batch_size)
            round_rates["torch-loader"] = torch_rate(pairs, args.batch_size, args.torch_workers)
            for name, value in round_rates.items():
                rates.setdefault(name, []).append(value)
            print(f"round {round_index + 1}: " + ", ".join(f"{k} {v:.0f}" for k, v in round_rates.items())
                  + f" samples/s (load {os.getloadavg()[0]:.1f})")
    train = training_rate(args.batch_size, args.train_steps)
    print(f"\n{'pipeline':14s} {'samples/s':>10s} {'GB/s':>7s} {'x training':>11s} {'x torch-loader':>15s}")
    torch_median = statistics.median(rates["torch-loader"])
    for name, values in rates.items():
        rate = statistics.median(values)
        print(f"{name:14s} {rate:10.1f} {rate * SAMPLE_BYTES / 1e9:7.3f} {rate / train:11.1f} "
              f"{rate / torch_median:15.2f}")
    print(f"{'train (XLA)':14s} {train:10.2f} {train * SAMPLE_BYTES / 1e9:7.4f}   (InversionNet model.fit, "
          f"full width, batch {args.batch_size}, CPU)")
    print("\nmedians over rounds; GB/s counts raw float32 file bytes (seismic + velocity) per sample")


if __name__ == "__main__":
    main()
