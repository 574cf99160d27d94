"""``keras_fwi evaluate``: metrics (normalised and m/s) and figures for a model on a labelled dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="metrics table, JSON and figures of a model on labelled data",
        description="Evaluate a trained model: OpenFWI's MAE/RMSE/SSIM on normalised maps, MAE/RMSE in m/s "
                    "and FCNVMB's PSNR, printed and written as JSON with PNG figures of velocity maps and "
                    "one seismic sample. Give a run directory (its model and held-out split), or a checkpoint "
                    "with data and a dataset preset.")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-dir", help="run directory written by keras_fwi train")
    source.add_argument("--checkpoint", help=".keras model file")
    parser.add_argument("--data", help="OpenFWI split file, folder or data file (with --checkpoint)")
    parser.add_argument("--dataset", help="dataset preset name, e.g. flatvel-a, only for a checkpoint that records "
                                          "none (saved by plain model.save); another than the model's is an error")
    parser.add_argument("--out", help="folder for metrics.json and figures (default: RUN_DIR/evaluation "
                                      "or ./evaluation)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per batch (default 32)")
    parser.add_argument("--flip-tta", action="store_true",
                        help="average each prediction with the mirrored input's mirrored prediction")
    parser.add_argument("--overwrite", action="store_true", help="replace existing results in --out")
    parser.set_defaults(func=run)


def _sources(args):
    """(checkpoint, data source, DatasetPreset) from a run directory or the explicit options.

    The preset is the one the model or run records (``keras_fwi.artefacts``); ``--dataset`` is needed
    only for a model that records none, and must not name another dataset.
    """
    from keras_fwi.artefacts import read_preset, resolve_preset

    if args.checkpoint:
        checkpoint = Path(args.checkpoint)
        if not args.data:
            raise ValueError("--checkpoint needs --data (labelled OpenFWI files)")
        preset = resolve_preset(read_preset(checkpoint), args.dataset, f"model {checkpoint}")
        if preset is None:
            raise ValueError(f"model {checkpoint} records no dataset preset (saved by plain model.save?): pass "
                             "--dataset NAME, or record it with keras_fwi.artefacts.attach_preset")
        return checkpoint, args.data, preset
    import yaml

    from keras_fwi.config import ExperimentConfig
    from keras_fwi.training.datasets import generated_splits

    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir} is not a keras_fwi run directory (no config.yaml)")
    config = ExperimentConfig.from_dict(yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")))
    used = run_dir / "data.json"
    data = args.data or (json.loads(used.read_text())["val"] if used.is_file() else config.data.val)
    if data is None and config.data.generate is not None:
        data = str(generated_splits(config.data.generate)[1])
    if data is None:
        raise ValueError(f"the run in {run_dir} has no validation data; pass --data")
    return run_dir / "model.keras", data, resolve_preset(read_preset(run_dir), args.dataset, f"run directory {run_dir}")


def run(args: argparse.Namespace) -> int:
    from keras_fwi.io_utils import refuse_to_clobber

    checkpoint, data, dataset = _sources(args)
    out = Path(args.out) if args.out else (Path(args.run_dir) / "evaluation" if args.run_dir else Path("evaluation"))
    refuse_to_clobber(out / "metrics.json", args.overwrite)

    from keras_fwi.artefacts import load_model
    from keras_fwi.data import get_preset, openfwi_dataset
    from keras_fwi.io_utils import atomic_output
    from keras_fwi.training.evaluation import evaluate_model
    from keras_fwi.training.figures import plot_seismic, plot_velocity_comparison

    model = load_model(checkpoint)
    data_format = "channels_first" if model.input_shape[1] == get_preset(dataset).shots else "channels_last"
    batches = openfwi_dataset(data, dataset=dataset, batch_size=args.batch_size, shuffle=False,
                              data_format=data_format)
    metrics, truth, prediction = evaluate_model(model, batches, dataset, args.flip_tta, data_format)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "metrics.json", overwrite=args.overwrite) as tmp:
        tmp.write_text(json.dumps({"checkpoint": str(checkpoint), "data": str(data), "dataset": dataset.name,
                                   "flip_tta": args.flip_tta, **metrics}, indent=2))
    preset = get_preset(dataset)
    shown = min(4, len(truth))
    plot_velocity_comparison(truth[:shown], prediction[:shown], out / "velocity.png", dx=preset.dx,
                             overwrite=args.overwrite)
    seismic = next(iter(openfwi_dataset(data, dataset=dataset, batch_size=1, shuffle=False, normalize=False)))[0]
    plot_seismic(seismic[0].numpy(), out / "seismic.png", dt=preset.dt, overwrite=args.overwrite)

    width = max(len(name) for name in metrics)
    for name, value in metrics.items():
        print(f"{name:<{width}}  {value:.4f}")
    print(f"wrote {out / 'metrics.json'}, {out / 'velocity.png'}, {out / 'seismic.png'}")
    return 0
