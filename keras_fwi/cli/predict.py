"""``keras_fwi predict``: velocity maps from seismic files with an exported ONNX model, without TensorFlow."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict velocity maps from seismic files with an ONNX model (no TensorFlow)",
        description="Run a model written by `keras_fwi export` with onnxruntime on .npy files, OpenFWI split "
                    "files, directories or SEG-Y files, and write <name>_velocity.npy per input file into --out. "
                    "TensorFlow is not imported.")
    parser.add_argument("--model", required=True, help="ONNX file written by `keras_fwi export`")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help=".npy file (sample or batch, OpenFWI layout), OpenFWI split file, directory, "
                             "or SEG-Y file of shot gathers (.sgy/.segy)")
    parser.add_argument("--out", required=True, help="folder for the predicted velocity maps")
    parser.add_argument("--plot", action="store_true", help="also write a PNG of the first maps of each file")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--batch-size", type=int, default=16, help="samples per onnxruntime call (default 16)")
    parser.add_argument("--provider", choices=("auto", "cpu", "cuda", "tensorrt"), default="auto",
                        help="execution provider (default auto: CUDA when onnxruntime can start it, else CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per call (default: one per core)")
    parser.add_argument("--dataset", default=None,
                        help="dataset preset, only for a model whose metadata records none: its constants normalise "
                             "the input and its geometry reads SEG-Y files (a different dataset than the model's is "
                             "an error)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Only onnxruntime and NumPy: this command must work where TensorFlow is not installed.
    import onnxruntime

    from keras_fwi.export.files import predict_files
    from keras_fwi.export.runtime import Predictor

    import warnings

    # A CUDA provider that cannot load logs a multi-line (red) error at session creation; the device
    # line below says where the model runs instead. --verbose keeps onnxruntime's warnings and errors.
    onnxruntime.set_default_logger_severity(1 if args.verbose else 4)

    providers = None if args.provider == "auto" else [args.provider]
    with warnings.catch_warnings():
        if args.provider == "auto" and not args.verbose:  # auto means "CUDA if it starts": no warning if not
            warnings.filterwarnings("ignore", message=".*could not start it", category=RuntimeWarning)
        predictor = Predictor(args.model, providers, batch_size=args.batch_size, threads=args.threads,
                              dataset=args.dataset)
    print(f"device: {predictor.device.upper()} (onnxruntime {predictor.providers[0]}), "
          f"precision {predictor.info.props.get('precision', 'float32')}")
    print(_units_line(predictor))
    written = predict_files(predictor, args.inputs, args.out, plot=args.plot, overwrite=args.overwrite,
                            progress=not args.quiet)
    maps = sum(1 for path in written if path.suffix == ".npy")
    print(f"wrote {maps} velocity file(s) ({predictor.units}) to {args.out} using {predictor.providers[0]}")


def _units_line(predictor) -> str:
    """What the input files must hold and what comes out, as the model's metadata decides it."""
    dataset = f"dataset {predictor.preset.name}" if predictor.preset is not None else "no dataset recorded"
    if predictor.info.raw_io:
        how = "normalised inside the model"
    elif predictor.normalization is not None:
        how = f"normalised with {predictor.normalization.dataset or 'the recorded'} constants before the model"
    elif predictor.input_units == "raw":
        how = "the model was trained on raw amplitudes"
    else:
        how = "the model records no normalisation constants: give normalised input, or --dataset NAME"
    return (f"input: {'raw amplitudes' if predictor.input_units == 'raw' else 'normalised values'} ({how}); "
            f"output: {predictor.units}; {dataset}")
    return 0
