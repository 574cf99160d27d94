"""``keras_fwi refine``: correct a network's (or any) velocity maps with the wave equation (FWI)."""

from __future__ import annotations

import argparse
from pathlib import Path

from keras_fwi._refine_defaults import REFINE_DEFAULTS as DEFAULTS

OUTPUTS = ("velocity.npy", "refine.json", "refine.png")


def _list_of(convert, what: str):
    """argparse type: comma-separated values, each through ``convert`` ("full" means None for cutoffs)."""
    def parse(text: str):
        try:
            return [convert(item.strip()) for item in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be comma-separated, e.g. {_EXAMPLES[what]}; "
                                             f"got {text!r}") from None
    return parse


_EXAMPLES = {"iterations": "40 or 30,30,20", "frequencies": "4,8,full", "grid factors": "4,2,1",
             "TV weights": "0.1 or 0.3,0.2,0.1", "windows": "0.4,0.7,full", "blocks": "0,0,5"}
_NEUTRAL = "with other --frequencies: "


def _cutoff(item: str) -> float | None:
    """A cutoff in Hz, or None for "full" (the full band)."""
    return None if item == "full" else float(item)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _text(values) -> str:
    """A default as the user would type it, e.g. 4,8,full."""
    return ",".join("full" if value is None else f"{value:g}" for value in _as_list(values))


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
    parser.add_argument("--iterations", type=_list_of(int, "iterations"), default=None,
                        help="gradient iterations per sample: a total split over the stages, or one count per "
                             f"stage (default {_text(DEFAULTS['iterations'])}; {_NEUTRAL}"
                             f"{sum(DEFAULTS['iterations'])} split over them)")
    parser.add_argument("--frequencies", type=_list_of(_cutoff, "frequencies"), default=DEFAULTS["frequencies"],
                        help="low-pass cutoff of each stage in Hz, 'full' for the full band "
                             f"(default {_text(DEFAULTS['frequencies'])})")
    parser.add_argument("--grid-factors", type=_list_of(int, "grid factors"), default=None,
                        help="per stage, simulate on a grid this many times coarser in space and time (cheaper; "
                             f"low cutoffs only) (default {_text(DEFAULTS['grid_factors'])}; {_NEUTRAL}1)")
    parser.add_argument("--correct-every", type=int, default=DEFAULTS["correct_every"], metavar="N",
                        help="in coarse-grid stages, re-anchor the coarse data to the full grid's every N "
                             "iterations (one full-grid simulation each; 0: never) "
                             f"(default {DEFAULTS['correct_every']})")
    parser.add_argument("--blocks", type=_list_of(int, "blocks"), default=None,
                        help="per stage, 0 fits every cell; K > 0 fits one velocity per region of the model "
                             "segmented into K velocity levels, so whole layers move "
                             f"(default {_text(DEFAULTS['blocks'])}; {_NEUTRAL}0)")
    parser.add_argument("--method", choices=("adam", "lbfgs"), default=DEFAULTS["method"],
                        help=f"optimiser (default {DEFAULTS['method']})")
    parser.add_argument("--precondition", type=float, default=DEFAULTS["precondition"], metavar="P",
                        help="L-BFGS-B moves each depth row's velocities in units (its gradient's RMS / the "
                             "largest row's)^-P larger, so deep, weakly lit layers update too "
                             f"(default {DEFAULTS['precondition']:g}; 0: none)")
    parser.add_argument("--lbfgs-memory", type=int, default=DEFAULTS["lbfgs_memory"],
                        help=f"curvature pairs L-BFGS-B keeps (default {DEFAULTS['lbfgs_memory']})")
    parser.add_argument("--tv", type=_list_of(float, "TV weights"), default=_as_list(DEFAULTS["tv"]),
                        help=f"total-variation weight, or one per stage (default {_text(DEFAULTS['tv'])})")
    parser.add_argument("--lateral", type=float, default=DEFAULTS["lateral"],
                        help="weight of lateral against vertical velocity changes in the total variation; > 1 "
                             f"favours layered models (default {DEFAULTS['lateral']:g}: isotropic)")
    parser.add_argument("--lateral-smoothness", type=float, default=DEFAULTS["lateral_smoothness"],
                        help="weight of the mean squared lateral velocity change (smooths along x, keeps "
                             f"vertical contrasts; default {DEFAULTS['lateral_smoothness']:g})")
    parser.add_argument("--time-gain", type=float, default=DEFAULTS["time_gain"], metavar="P",
                        help="weigh the data residual by (t / T)^P, T the record length, so late, weak deep "
                             f"reflections count as much as early arrivals (default {DEFAULTS['time_gain']:g}: none)")
    parser.add_argument("--windows", type=_list_of(_cutoff, "windows"), default=DEFAULTS["windows"],
                        help="per stage, fit only the first this many seconds of each trace, 'full' for all "
                             "(layer stripping: the shallow part settles first; default: full)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="stop after this many seconds in all (shared by the samples; default: no limit)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="samples simulated together with --method adam (default: as many as fit in about "
                             "2 GB); L-BFGS-B refines one sample at a time")
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
    iterations = args.iterations[0] if args.iterations is not None and len(args.iterations) == 1 else args.iterations
    tv = args.tv[0] if len(args.tv) == 1 else args.tv
    report = refine.refine(seismic, start, survey, dataset=args.dataset, labels=labels, iterations=iterations,
                           method=args.method, lbfgs_memory=args.lbfgs_memory, tv=tv, lateral=args.lateral,
                           lateral_smoothness=args.lateral_smoothness, frequencies=args.frequencies,
                           time_gain=args.time_gain, windows=args.windows, correct_every=args.correct_every,
                           blocks=args.blocks, precondition=args.precondition,
                           grid_factors=args.grid_factors, time_limit=args.time_limit, batch_size=args.batch_size,
                           progress=not args.quiet)
    written = refine.write_outputs(out, report, seismic, survey, args.overwrite)
    summary = report["summary"]
    text = f"misfit {summary['misfit_before']:.4g} -> {summary['misfit_after']:.4g}"
    if labels is not None:
        text += f", MAE {summary['mae_before']:.1f} -> {summary['mae_after']:.1f} m/s"
    print(f"refined {len(seismic)} sample(s) in {summary['seconds_per_sample']:.1f} s each: {text}; "
          f"wrote {', '.join(str(path) for path in written)}")
    return 0
