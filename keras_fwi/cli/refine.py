"""``keras_fwi refine``: correct a network's (or any) velocity maps with the wave equation (FWI)."""

from __future__ import annotations

import argparse
from pathlib import Path

from keras_fwi._refine_defaults import REFINE_DEFAULTS as DEFAULTS

OUTPUTS = ("velocity.npy", "refine.json", "refine.png")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "refine", help="refine velocity maps by full-waveform inversion against the recorded data",
        description="Start from a network's prediction (--model) or a given velocity (--init) and fit the "
                    "recorded seismic data with keras_fwi's differentiable wave simulator (FWI with total-"
                    "variation regularisation). Writes velocity.npy (N, 1, nz, nx) in m/s, refine.json "
                    "(misfit and MAE histories, settings, seconds per sample) and refine.png into --out.")
    parser.add_argument("seismic", metavar="SEISMIC.npy",
                        help="raw amplitudes in OpenFWI layout, (N, shots, time, receivers) or one sample")
    parser.add_argument("--out", required=True, help="output folder")
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--model", help="network giving the start: .keras (Keras) or .onnx (keras_fwi export)")
    start.add_argument("--init", help="starting velocity .npy in m/s, (N, 1, nz, nx) or (N, nz, nx)")
    parser.add_argument("--dataset", default="flatvel-a",
                        help="dataset preset: the network's normalisation and the velocity bounds (default flatvel-a)")
    parser.add_argument("--survey", default="openfwi",
                        help="acquisition: openfwi, fcnvmb or a JSON file of Survey fields (default openfwi)")
    parser.add_argument("--labels", help="true velocity .npy in m/s: report MAE before and after")
    parser.add_argument("--iterations", type=int, default=DEFAULTS["iterations"],
                        help=f"gradient iterations per sample (default {DEFAULTS['iterations']})")
    parser.add_argument("--method", choices=("adam", "lbfgs"), default=DEFAULTS["method"],
                        help=f"optimiser (default {DEFAULTS['method']})")
    parser.add_argument("--tv", type=float, default=DEFAULTS["tv"],
                        help=f"total-variation weight (default {DEFAULTS['tv']:g})")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="stop after this many seconds per batch (default: no limit)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="samples inverted together (default: as many as fit in about 2 GB)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_fwi.io_utils import refuse_to_clobber
    from keras_fwi.physics import refine

    out = Path(args.out)
    for name in OUTPUTS:
        refuse_to_clobber(out / name, args.overwrite)
    survey = refine.load_survey(args.survey)
    seismic = refine.load_seismic(args.seismic, survey)
    labels = None if args.labels is None else refine.load_velocity(args.labels, survey, len(seismic), "--labels")
    if args.init is not None:
        start = refine.load_velocity(args.init, survey, len(seismic), "--init")
    else:
        start = refine.predict_start(args.model, seismic, args.dataset, survey)
    report = refine.refine(seismic, start, survey, dataset=args.dataset, labels=labels, iterations=args.iterations,
                           method=args.method, tv=args.tv, time_limit=args.time_limit, batch_size=args.batch_size,
                           progress=not args.quiet)
    written = refine.write_outputs(out, report, seismic, survey, args.overwrite)
    summary = report["summary"]
    text = f"misfit {summary['misfit_before']:.4g} -> {summary['misfit_after']:.4g}"
    if labels is not None:
        text += f", MAE {summary['mae_before']:.1f} -> {summary['mae_after']:.1f} m/s"
    print(f"refined {len(seismic)} sample(s) in {summary['seconds_per_sample']:.1f} s each: {text}; "
          f"wrote {', '.join(str(path) for path in written)}")
    return 0
