"""``keras_fwi export``: a ``.keras`` checkpoint or run directory becomes a verified ONNX file."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a model to ONNX, checked against Keras before it is written",
        description="Convert a keras_fwi model (.keras file or train run directory) to ONNX with tf2onnx. "
                    "The file takes seismic (batch, shots, time, receivers) and returns velocity "
                    "(batch, 1, depth, width); it is written only if onnx.checker passes and onnxruntime "
                    "matches Keras within the bound (float32: max abs 1e-4 on normalised velocity).")
    parser.add_argument("model", help=".keras checkpoint or keras_fwi train run directory")
    parser.add_argument("--out", required=True, help="ONNX file to write, e.g. model.onnx")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset, 13-18 (default 17)")
    parser.add_argument("--fp16", action="store_true",
                        help="float16 weights and compute for GPU serving; inputs/outputs stay float32")
    parser.add_argument("--raw-io", action="store_true",
                        help="bake OpenFWI's normalisation into the graph: raw amplitudes in, m/s out "
                             "(needs the model's dataset: recorded by keras_fwi, else --dataset)")
    parser.add_argument("--dataset", default=None,
                        help="dataset preset for a model that records none (saved by plain model.save), e.g. "
                             "flatvel-a; a model written by keras_fwi carries its own, and another is an error; "
                             "'none' records none")
    parser.add_argument("--check-data", default=None, metavar="FILE.npy",
                        help="also compare on the first samples of this raw OpenFWI data file (needs the dataset)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_fwi.export import exporter

    check_seismic = None
    if args.check_data is not None:
        from keras_fwi.data.checks import open_npy

        check_seismic = open_npy(args.check_data)[:8]
    info = exporter.export_onnx(
        args.model, args.out, opset=exporter.DEFAULT_OPSET if args.opset is None else args.opset,
        fp16=args.fp16, raw_io=args.raw_io, dataset=args.dataset, check_seismic=check_seismic,
        overwrite=args.overwrite)
    props = info.props
    print(f"wrote {args.out}: {props['architecture']}, {props['precision']}, input {props['input_units']} "
          f"{props['input_shape']}, output {props['output_units']} {props['output_shape']}; parity with Keras: "
          f"max abs {props['parity_max_abs_diff']}, mean abs {props['parity_mean_abs_diff']} "
          f"(allowed {props['parity_bound']})")
    return 0
