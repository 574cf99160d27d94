"""InversionNet against FCNVMB on the same generated data, in OpenFWI's shape (5 × 1000 × 70 → 70 × 70).

FCNVMB is adapted by its builder's arguments only (``shots=5, time_samples=1000, receivers=70,
velocity_shape=(70, 70)``); both networks train on the same normalised samples with the same loss
(L1), optimizer (AdamW, lr 1e-3, weight decay 1e-4), batch size and epochs, and are scored on the
same held-out samples. Reported per network:

- parameters at full width (OpenFWI's InversionNet widths 32..512, FCNVMB's filters 64..1024) and at
  the benchmark's reduced widths (``--inversionnet-widths``, ``--fcnvmb-filters``);
- training samples/s (``--epochs`` epochs after a one-step warm-up) and inference samples/s (batch
  ``--batch-size``), peak resident memory of training above the process's memory with the data loaded;
- held-out MAE/RMSE/SSIM on normalised maps (OpenFWI's), MAE in m/s, and boundary sharpness: the sum
  of |vertical one-cell velocity jumps| of the prediction over the true map's interface cells
  (|jump| > 100 m/s) divided by the same sum of the truth (1 = as sharp as the truth; a blurred
  interface spreads its jump over several cells, so less of it lies on the interface cell).

Each network runs in its own process (``--worker``), so peak memory is its own. Data: the
quickstart's cached simulated FlatVel-A-like set (``keras_fwi train`` makes it), or ``--data`` with
``train.txt``/``test.txt`` of ``keras_fwi generate``.

Usage:
    python benchmarks/bench_compare.py --train-samples 128 --test-samples 64 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

DATASET = "flatvel-a"
INTERFACE_JUMP = 100.0  # m/s: a true vertical one-cell jump above this marks an interface cell


def _splits(data: str | None) -> tuple[str, str]:
    if data:
        return os.path.join(data, "train.txt"), os.path.join(data, "test.txt")
    from keras_fwi.config import load_config
    from keras_fwi.training.datasets import generated_splits

    train, test = generated_splits(load_config("quickstart").data.generate)
    return str(train), str(test)


def _load(split: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` samples of a split file, normalised as OpenFWI does, in memory."""
    from keras_fwi.data import normalize_seismic, normalize_velocity
    from keras_fwi.data.checks import open_npy
    from keras_fwi.data.sources import resolve_sources

    seismic, velocity = [], []
    for pair in resolve_sources(split, labels=True):
        take = count - sum(len(s) for s in seismic)
        if take <= 0:
            break
        seismic.append(normalize_seismic(np.asarray(open_npy(pair.seismic)[:take]), DATASET))
        velocity.append(normalize_velocity(np.asarray(open_npy(pair.velocity)[:take]), DATASET))
    return np.concatenate(seismic).astype(np.float32), np.concatenate(velocity).astype(np.float32)


def build(name: str, widths: tuple[int, ...]):
    import keras_fwi.models

    if name == "inversionnet":
        return keras_fwi.models.inversionnet(widths=widths)
    return keras_fwi.models.fcnvmb(shots=5, time_samples=1000, receivers=70, velocity_shape=(70, 70), filters=widths)


def boundary_sharpness(truth_ms: np.ndarray, pred_ms: np.ndarray) -> float:
    """Σ |Δz prediction| / Σ |Δz truth| over the truth's interface cells; maps (n, depth, width) in m/s."""
    true_jump = np.abs(np.diff(truth_ms, axis=1))
    pred_jump = np.abs(np.diff(pred_ms, axis=1))
    interface = true_jump > INTERFACE_JUMP
    return float(pred_jump[interface].sum() / true_jump[interface].sum())


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(args) -> dict:
    import keras

    from keras_fwi.data import denormalize_velocity
    from keras_fwi.training import openfwi_metrics

    train_split, test_split = _splits(args.data)
    x_train, y_train = _load(train_split, args.train_samples)
    x_test, y_test = _load(test_split, args.test_samples)
    keras.utils.set_random_seed(0)
    widths = tuple(args.inversionnet_widths if args.worker == "inversionnet" else args.fcnvmb_filters)
    model = build(args.worker, widths)
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4), loss="mae", jit_compile=True)
    baseline_mb = _rss_mb()
    warm = slice(0, args.batch_size)  # one step compiles the XLA graph (use a multiple of the batch size)
    model.fit(x_train[warm], y_train[warm], batch_size=args.batch_size, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
    train_rate = args.epochs * len(x_train) / (time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model.predict(x_test[:args.batch_size], batch_size=args.batch_size, verbose=0)  # warm-up
    started = time.perf_counter()
    prediction = model.predict(x_test, batch_size=args.batch_size, verbose=0)
    infer_rate = len(x_test) / (time.perf_counter() - started)
    metrics = openfwi_metrics(1500.0, 4500.0)
    for metric in metrics:
        metric.update_state(y_test, prediction)
    scores = {metric.name: float(metric.result()) for metric in metrics}
    truth_ms = denormalize_velocity(y_test[:, 0], DATASET)
    pred_ms = denormalize_velocity(np.clip(prediction[:, 0], -1, 1), DATASET)
    return {"model": args.worker, "widths": list(widths), "params": int(model.count_params()),
            "train_samples_per_s": train_rate, "infer_samples_per_s": infer_rate,
            "train_peak_mb_above_data": peak_mb - baseline_mb, "mae": scores["mae"], "rmse": scores["rmse"],
            "ssim": scores["ssim"], "velocity_mae": scores["velocity_mae"],
            "boundary_sharpness": boundary_sharpness(truth_ms, pred_ms),
            "truth_sharpness_of_mean_map": boundary_sharpness(truth_ms, np.broadcast_to(
                denormalize_velocity(y_train[:, 0], DATASET).mean(axis=0), truth_ms.shape))}


def full_width_params() -> dict:
    return {"inversionnet": int(build("inversionnet", (32, 64, 128, 256, 512)).count_params()),
            "fcnvmb": int(build("fcnvmb", (64, 128, 256, 512, 1024)).count_params())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="folder with train.txt/test.txt (default: quickstart data)")
    parser.add_argument("--train-samples", type=int, default=128)
    parser.add_argument("--test-samples", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="timed training epochs (after a one-step warm-up)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--inversionnet-widths", type=int, nargs=5, default=[8, 16, 32, 64, 128])
    parser.add_argument("--fcnvmb-filters", type=int, nargs=5, default=[8, 16, 32, 64, 128])
    parser.add_argument("--worker", choices=("inversionnet", "fcnvmb"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args)))
        return
    _splits(args.data)  # generate (once) before the workers race for it
    rows = []
    for name in ("inversionnet", "fcnvmb"):
        command = [sys.executable, __file__, "--worker", name, *sys.argv[1:]]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:]))
    full = full_width_params()
    print(f"load average {os.getloadavg()[0]:.1f}; {args.train_samples} training samples x {args.epochs} epochs, "
          f"{args.test_samples} held out, batch {args.batch_size}")
    print("| | InversionNet | FCNVMB |\n|---|---:|---:|")
    table = [("parameters, full width", lambda r: f"{full[r['model']]:,}"),
             ("widths in this run", lambda r: "-".join(map(str, r["widths"]))),
             ("parameters in this run", lambda r: f"{r['params']:,}"),
             ("training samples/s", lambda r: f"{r['train_samples_per_s']:.2f}"),
             ("inference samples/s", lambda r: f"{r['infer_samples_per_s']:.1f}"),
             ("training peak memory above data (MB)", lambda r: f"{r['train_peak_mb_above_data']:.0f}"),
             ("MAE (normalised, OpenFWI)", lambda r: f"{r['mae']:.4f}"),
             ("RMSE (normalised, OpenFWI)", lambda r: f"{r['rmse']:.4f}"),
             ("SSIM (OpenFWI)", lambda r: f"{r['ssim']:.4f}"),
             ("MAE (m/s)", lambda r: f"{r['velocity_mae']:.1f}"),
             ("boundary sharpness (1 = truth)", lambda r: f"{r['boundary_sharpness']:.3f}"),
             ("boundary sharpness of the mean training map", lambda r: f"{r['truth_sharpness_of_mean_map']:.3f}")]
    for label, cell in table:
        print(f"| {label} | {cell(rows[0])} | {cell(rows[1])} |")


if __name__ == "__main__":
    main()
