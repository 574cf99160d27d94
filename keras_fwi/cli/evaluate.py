"""``keras_fwi evaluate``: metrics (normalised and m/s) and figures for a model on a labelled dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="metrics table, JSON and figures of a model on labelled data",
        description="Evaluate a trained model in its dataset's reference convention: OpenFWI presets get "
                    "OpenFWI's MAE/RMSE/SSIM on normalised maps plus MAE/RMSE in m/s (and FCNVMB's PSNR); FCNVMB "
                    "presets get MAE/RMSE in m/s and FCNVMB's own PSNR and SSIM. Printed and written as JSON "
                    "(with each metric's units) with PNG figures of velocity maps and one seismic sample. Give "
                    "a run directory (its model and held-out split), or a checkpoint with data and a dataset "
                    "preset; the preset decides how files are read (FCNVMB .mat folders or OpenFWI .npy).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run-dir", help="run directory written by keras_fwi train")
    source.add_argument("--checkpoint", help=".keras model file")
    parser.add_argument("--data", help="OpenFWI split file or folder, or FCNVMB .mat folder (e.g. georec_test) or "
                                       "file (with --checkpoint)")
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
            raise ValueError("--checkpoint needs --data (labelled data files)")
        preset = resolve_preset(read_preset(checkpoint), args.dataset, f"model {checkpoint}")
        if preset is None:
            raise ValueError(f"model {checkpoint} records no dataset preset (saved by plain model.save?): pass "
                             "--dataset NAME, or record it with keras_fwi.artefacts.attach_preset")
        return checkpoint, args.data, preset
    from keras_fwi.run_directory import RunDirectory

    run = RunDirectory(args.run_dir)
    run.config()  # refuses a folder that holds no run, naming it
    data = args.data or run.validation_source(generate=True)
    if data is None:
        raise ValueError(f"the run in {run.path} has no validation data; pass --data")
    return run.model_path, data, resolve_preset(read_preset(run.path), args.dataset, f"run directory {run.path}")


def run(args: argparse.Namespace) -> int:
    from keras_fwi.io_utils import refuse_to_clobber

    checkpoint, data, dataset = _sources(args)
    out = Path(args.out) if args.out else (Path(args.run_dir) / "evaluation" if args.run_dir else Path("evaluation"))
    refuse_to_clobber(out / "metrics.json", args.overwrite)

    from keras_fwi.artefacts import load_model
    from keras_fwi.data import get_preset
    from keras_fwi.io_utils import atomic_output
    from keras_fwi.training.datasets import preset_dataset
    from keras_fwi.training.evaluation import evaluate_model
    from keras_fwi.training.figures import plot_seismic, plot_velocity_comparison

    model = load_model(checkpoint)
    data_format = "channels_first" if model.input_shape[1] == get_preset(dataset).shots else "channels_last"
    batches = preset_dataset(data, dataset, args.batch_size, data_format=data_format)
    metrics, truth, prediction = evaluate_model(model, batches, dataset, args.flip_tta, data_format)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / "metrics.json", overwrite=args.overwrite) as tmp:
        tmp.write_text(json.dumps({"checkpoint": str(checkpoint), "data": str(data), "dataset": dataset.name,
                                   "flip_tta": args.flip_tta, **metrics}, indent=2))
    preset = get_preset(dataset)
    shown = min(4, len(truth))
    plot_velocity_comparison(truth[:shown], prediction[:shown], out / "velocity.png", dx=preset.dx,
                             overwrite=args.overwrite)
    seismic = next(iter(preset_dataset(data, dataset, 1, normalize=False)))[0]
    plot_seismic(seismic[0].numpy(), out / "seismic.png", dt=preset.dt, overwrite=args.overwrite)

    width = max(len(name) for name in metrics)
    units = metrics.get("units", {})
    for name, value in metrics.items():
        if isinstance(value, float):
            print(f"{name:<{width}}  {value:.4f}  {units.get(name, '')}".rstrip())
    print(f"wrote {out / 'metrics.json'}, {out / 'velocity.png'}, {out / 'seismic.png'}")
    return 0
