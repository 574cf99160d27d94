"""``keras_fwi predict``: velocity maps from seismic files with an exported ONNX model, without TensorFlow."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="predict velocity maps from seismic files with an ONNX model (no TensorFlow)",
        description="Run a model written by `keras_fwi export` with onnxruntime on .npy files, OpenFWI split "
                    "files, directories or SEG-Y files (for an FCNVMB model: FCNVMB .mat files and folders, read "
                    "and decimated as training reads them), and write <name>_velocity.npy per input file into "
                    "--out. TensorFlow is not imported.")
    parser.add_argument("--model", required=True, help="ONNX file written by `keras_fwi export`")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help=".npy file (sample or batch, OpenFWI layout), OpenFWI split file, directory, "
                             "SEG-Y file of shot gathers (.sgy/.segy), or FCNVMB .mat file/folder (FCNVMB models)")
    parser.add_argument("--out", required=True, help="folder for the predicted velocity maps")
    parser.add_argument("--plot", action="store_true", help="also write a PNG of the first maps of each file")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--batch-size", type=int, default=16, help="samples per onnxruntime call (default 16)")
    parser.add_argument("--provider", choices=("auto", "cpu", "cuda", "tensorrt"), default="auto",
                        help="execution provider (default auto: CUDA when onnxruntime can start it, else CPU)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads per call (default: one per core)")
    parser.add_argument("--dataset", default=None,
                        help="dataset preset whose reader and geometry inputs are read with: SEG-Y geometry and dt, "
                             "FCNVMB .mat layout (default: the model's metadata)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Only onnxruntime and NumPy: this command must work where TensorFlow is not installed.
    import onnxruntime

    from keras_fwi.export.files import predict_files
    from keras_fwi.export.runtime import Predictor

    # A CUDA provider that cannot load logs a multi-line error; Predictor's one-line warning says it.
    onnxruntime.set_default_logger_severity(3)

    providers = None if args.provider == "auto" else [args.provider]
    predictor = Predictor(args.model, providers, batch_size=args.batch_size, threads=args.threads)
    written = predict_files(predictor, args.inputs, args.out, plot=args.plot, overwrite=args.overwrite,
                            progress=not args.quiet, dataset=args.dataset)
    maps = sum(1 for path in written if path.suffix == ".npy")
    print(f"wrote {maps} velocity file(s) ({predictor.units}) to {args.out} using {predictor.providers[0]}")
    return 0
