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
    parser.add_argument("--dataset", help="dataset preset name, e.g. flatvel-a (with --checkpoint)")
    parser.add_argument("--out", help="folder for metrics.json and figures (default: RUN_DIR/evaluation "
                                      "or ./evaluation)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per batch (default 32)")
    parser.add_argument("--flip-tta", action="store_true",
                        help="average each prediction with the mirrored input's mirrored prediction")
    parser.add_argument("--overwrite", action="store_true", help="replace existing results in --out")
    parser.set_defaults(func=run)


def _sources(args) -> tuple[Path, str, str]:
    """(checkpoint, data source, dataset preset) from a run directory or the explicit options."""
    if args.checkpoint:
        if not (args.data and args.dataset):
            raise ValueError("--checkpoint needs --data (labelled OpenFWI files) and --dataset (preset name)")
        return Path(args.checkpoint), args.data, args.dataset
    from keras_fwi.run_directory import RunDirectory

    run = RunDirectory(args.run_dir)
    config = run.config()
    data = args.data or run.validation_source(generate=True)
    if data is None:
        raise ValueError(f"the run in {run.path} has no validation data; pass --data")
    return run.model_path, data, args.dataset or config.data.dataset


def run(args: argparse.Namespace) -> int:
    from keras_fwi.io_utils import refuse_to_clobber

    checkpoint, data, dataset = _sources(args)
    out = Path(args.out) if args.out else (Path(args.run_dir) / "evaluation" if args.run_dir else Path("evaluation"))
    refuse_to_clobber(out / "metrics.json", args.overwrite)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"model file {checkpoint} does not exist")

    import keras

    from keras_fwi.data import get_preset, openfwi_dataset
    from keras_fwi.io_utils import atomic_output
    from keras_fwi.training.evaluation import evaluate_model
    from keras_fwi.training.figures import plot_seismic, plot_velocity_comparison

    model = keras.saving.load_model(checkpoint, safe_mode=True, compile=False)
    data_format = "channels_first" if model.input_shape[1] == get_preset(dataset).shots else "channels_last"
    batches = openfwi_dataset(data, dataset=dataset, batch_size=args.batch_size, shuffle=False,
                              data_format=data_format)
    metrics, truth, prediction = evaluate_model(model, batches, dataset, args.flip_tta, data_format)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "metrics.json", overwrite=args.overwrite) as tmp:
        tmp.write_text(json.dumps({"checkpoint": str(checkpoint), "data": str(data), "dataset": dataset,
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
