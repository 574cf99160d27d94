"""``keras_fwi import-torch``: convert a reference PyTorch checkpoint into a ``.keras`` model file."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "import-torch", help="convert an OpenFWI/FCNVMB PyTorch checkpoint into a .keras model",
        description="Load a reference PyTorch checkpoint (OpenFWI InversionNet .pth, FCNVMB .pkl) with "
                    "torch.load(weights_only=True) and save the equivalent keras_fwi model. Shots and channel widths "
                    "(widths, or FCNVMB's filters) are read from the checkpoint. Needs the torch extra.")
    parser.add_argument("checkpoint", help="PyTorch checkpoint file")
    parser.add_argument("--arch", required=True, choices=("inversionnet", "fcnvmb"), help="reference network")
    parser.add_argument("--out", required=True, help="output .keras file")
    parser.add_argument("--time-samples", type=int, help="time samples per trace, if not the architecture's default")
    parser.add_argument("--receivers", type=int, help="receivers per shot, if not the architecture's default")
    parser.add_argument("--data-format", choices=("channels_first", "channels_last"), default="channels_first",
                        help="input layout of the Keras model (default: OpenFWI's channels_first)")
    parser.add_argument("--dataset", default=None,
                        help="dataset preset the checkpoint was trained on, e.g. flatvel-a: recorded in the file, "
                             "so evaluate/export/predict need no --dataset later")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from keras_fwi.artefacts import save_model
    from keras_fwi.data import get_preset
    from keras_fwi.io_utils import refuse_to_clobber

    out = Path(args.out)
    if out.suffix != ".keras":
        raise ValueError(f"--out must end in .keras (Keras' native format), got {out}")
    refuse_to_clobber(out, args.overwrite)  # fail before the slow part
    preset = get_preset(args.dataset) if args.dataset is not None else None

    from keras_fwi.models.torch_import import import_torch_checkpoint

    sizes = {"time_samples": args.time_samples, "receivers": args.receivers}
    model = import_torch_checkpoint(args.checkpoint, args.arch, data_format=args.data_format,
                                    **{key: value for key, value in sizes.items() if value is not None})
    save_model(model, out, preset, overwrite=args.overwrite)
    recorded = f", dataset {preset.name}" if preset is not None else ""
    print(f"wrote {out}: {args.arch}, input {model.input_shape}, output {model.output_shape}{recorded}")
    return 0
