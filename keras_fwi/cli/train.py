"""``keras_fwi train``: run an experiment; with no arguments, the no-download quickstart."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a model (no arguments: the quickstart on simulated data, no download)",
        description="Train an experiment into a run directory: checkpoints, TensorBoard logs, history, "
                    "held-out metrics and a figure. With no arguments, simulates a small FlatVel-A-like "
                    "dataset (cached) and trains InversionNet for a few minutes.")
    parser.add_argument("--config", default=None,
                        help="experiment preset name or YAML file (default: quickstart; with --resume: the "
                             "run's own)")
    parser.add_argument("--run-dir", help="run directory (default: runs/<experiment>, numbered if taken)")
    parser.add_argument("--epochs", type=int, help="override training.epochs")
    parser.add_argument("--batch-size", type=int, help="override training.batch_size (per replica)")
    parser.add_argument("--precision", choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                        help="override training.precision; auto: bf16 in graph mode on CPUs with AVX-512-BF16/AMX, "
                             "float32 with XLA elsewhere")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multi-worker"),
                        help="override training.strategy (tf.distribute)")
    parser.add_argument("--shard", choices=("samples", "files"),
                        help="override training.shard, how multi-worker training divides the data: samples (every "
                             "worker reads all files and takes its share of each global batch: the batches of one "
                             "process) or files (each worker reads only its own files: less reading)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run (--run-dir, or the latest run of the same command) exactly after "
                             "its last complete epoch; other options must match it, except --epochs, --batch-size "
                             "and --set optimizer.learning_rate")
    parser.add_argument("--init-from", metavar="CKPT",
                        help=".keras model or PyTorch checkpoint to start from (transfer learning)")
    parser.add_argument("--freeze", action="append", default=[], metavar="PART",
                        help="keep a part fixed: encoder, decoder, or a layer-name pattern (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override any config key, e.g. --set optimizer.learning_rate=3e-4 (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def _default_run_dir(name: str, resume: bool = False) -> Path:
    """runs/<name>, numbered (runs/<name>-2 …) if taken; with ``resume``, the latest one taken."""
    from keras_fwi.run_directory import RunDirectory

    candidate, number, latest = Path("runs") / name, 1, None
    while not RunDirectory(candidate).is_empty():
        latest = candidate
        number += 1
        candidate = Path("runs") / f"{name}-{number}"
    return (latest or candidate) if resume else candidate


def _config(args, overrides):
    """The requested experiment; None for a plain --resume (the run's own). With --resume and only
    overrides, the run's saved configuration with them applied."""
    from keras_fwi.config import load_config

    if args.resume and args.config is None:
        if not args.run_dir:
            raise ValueError("--resume needs --run-dir, or the --config of the command that started the run")
        saved = Path(args.run_dir) / "config.yaml"
        return load_config(saved, overrides) if overrides and saved.is_file() else None
    return load_config(args.config or "quickstart", overrides)


def run(args: argparse.Namespace) -> int:
    flags = {"training.epochs": args.epochs, "training.batch_size": args.batch_size,
             "training.precision": args.precision, "training.strategy": args.strategy,
             "training.shard": args.shard}
    overrides = list(args.overrides) + [f"{key}={value}" for key, value in flags.items() if value is not None]
    config = _config(args, overrides)
    run_dir = Path(args.run_dir) if args.run_dir else _default_run_dir(config.name, args.resume)
    saved = run_dir / "config.yaml"
    from keras_fwi.config import load_config

    shown = config if config is not None else (load_config(saved) if saved.is_file() else None)
    if shown is not None:
        print(f"device: {getattr(args, 'device', 'TensorFlow default')}, precision {shown.training.precision}")

    from keras_fwi.training.cluster import WorkerLost
    from keras_fwi.training.trainer import TrainingDiverged, train

    try:
        result = train(config, run_dir, resume=args.resume, init_from=args.init_from, freeze=args.freeze,
                       verbose=0 if args.quiet else "auto")
    except TrainingDiverged as error:
        raise ValueError(str(error)) from None
    except WorkerLost as error:
        print(f"keras_fwi train: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\nkeras_fwi train: interrupted; continue with: keras_fwi train --run-dir {run_dir} --resume",
              file=sys.stderr)
        return 130
    metrics = result.metrics
    if not metrics:  # a multi-worker run's other workers: the chief evaluates and writes
        print(f"worker done; the chief (worker 0) writes the run directory {result.run_dir}")
        return 0
    print(f"run directory: {result.run_dir}")
    if result.resumed_from_epoch:
        print(f"resumed after epoch {result.resumed_from_epoch} and finished {result.epochs} epochs")
    print(_summary(metrics))
    return 0


def _summary(metrics: dict) -> str:
    held_out = metrics.get("evaluated_on", "validation") == "validation"
    lines = ["held-out metrics:" if held_out else "metrics on the TRAINING data (no data.val, not held out):"]
    for key, value in metrics.items():
        if isinstance(value, float):
            lines.append(f"  {key:<28} {value:.4f}")
    mae, baseline = metrics.get("velocity_mae"), metrics.get("baseline_mean_map_mae_m_s")
    if mae is not None and baseline:
        lines.append(f"  MAE is {mae / baseline:.2f}× the predict-the-mean-map baseline ({baseline:.1f} m/s)")
    return "\n".join(lines)
