"""Physics refinement (``keras_fwi refine`` / ``keras_fwi.physics.invert``) on data keras_fwi did not make.

Maps come from benchmarks/refine_data.py (a generator written apart from keras_fwi.physics.families)
and their observed data from deepwave with a 120-cell PML; keras_fwi inverts them with its own
simulator and survey (``Survey.openfwi()``'s default boundary unless --boundary). Cases:

- ``flat`` / ``curved``: FlatVel-A- / CurveVel-A-type maps on OpenFWI's survey, starting from a
  network's prediction (--model, .keras or .onnx) or from the true map smoothed by --sigma cells.
- ``marmousi``: classical FWI of a Marmousi-like model (--nz x --nx cells of 10 m, --shots sources)
  from a heavily smoothed start, with a low-to-full-band schedule.

Prints MAE (m/s) and relative misfit before and after, wall and process CPU seconds per sample and
the load average (the machine is shared), and writes the numbers as JSON to --json if given.

    python benchmarks/bench_refine.py flat --samples 8 --sigma 5
    python benchmarks/bench_refine.py flat --samples 8 --model /tmp/refine_qs/model.keras
    python benchmarks/bench_refine.py marmousi --iterations 60
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from refine_data import deepwave_data, layered_maps, marmousi_like, smoothed


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=("flat", "curved", "marmousi"))
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=101)
    parser.add_argument("--model", help="network predicting the start (.keras or .onnx); default: smoothed truth")
    parser.add_argument("--sigma", type=float, default=5.0, help="Gaussian smoothing of the true map, cells")
    parser.add_argument("--boundary", type=int, default=None, help="our absorbing width (default: the survey's)")
    parser.add_argument("--iterations", type=int, default=None, help="default: refine's default")
    parser.add_argument("--method", default=None)
    parser.add_argument("--tv", type=lambda text: [float(f) for f in text.split(",")], default=None,
                        help="TV weight, or comma-separated weights per stage")
    parser.add_argument("--lateral-smoothness", type=float, default=None)
    parser.add_argument("--lateral", type=float, default=None, help="TV's weight of lateral differences")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--lbfgs-memory", type=int, default=None, help="L-BFGS-B's curvature pairs (maxcor)")
    parser.add_argument("--precondition", type=float, default=None, help="power of L-BFGS-B's depth-row units")
    parser.add_argument("--frequencies", type=lambda text: [None if f == "full" else float(f)
                                                            for f in text.split(",")], default=None,
                        help="comma-separated cutoffs in Hz, 'full' for the full band, e.g. 5,8,full")
    parser.add_argument("--grid-factors", type=lambda text: [int(f) for f in text.split(",")], default=None,
                        help="comma-separated grid coarsening per stage, e.g. 4,2,1")
    parser.add_argument("--iterations-per-stage", type=lambda text: [int(f) for f in text.split(",")],
                        default=None, help="comma-separated iterations per stage (instead of --iterations)")
    parser.add_argument("--time-gain", type=float, default=None, help="power p of the (t / T)^p time gain")
    parser.add_argument("--windows", type=lambda text: [None if f == "full" else float(f) for f in text.split(",")],
                        default=None, help="comma-separated time windows per stage in s, 'full' for all")
    parser.add_argument("--correct-every", type=int, default=None,
                        help="coarse stages: re-anchor to the full grid every N iterations (0: never)")
    parser.add_argument("--blocks", type=lambda text: [int(f) for f in text.split(",")], default=None,
                        help="per stage, velocity levels of the block segmentation (0: every cell)")
    parser.add_argument("--nz", type=int, default=60)
    parser.add_argument("--nx", type=int, default=180)
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--nt", type=int, default=1000)
    parser.add_argument("--cache", default="/tmp/bench_refine_cache", help="folder caching deepwave's data")
    parser.add_argument("--json", help="write the figures here")
    return parser.parse_args()


def _case(args):
    """(survey, true maps (N, nz, nx), observed data), the data cached by case and size."""
    from keras_fwi.physics import Survey

    if args.case == "marmousi":
        survey = Survey.openfwi(nz=args.nz, nx=args.nx, nt=args.nt,
                                source_x=tuple(np.linspace(0, args.nx - 1, args.shots).round().astype(int)),
                                receiver_x=tuple(range(args.nx)))
        truth = marmousi_like(args.nz, args.nx)[None]
        key = f"marmousi_{args.nz}x{args.nx}_{args.shots}_{args.nt}"
    else:
        survey = Survey.openfwi()
        truth = layered_maps(args.samples, args.seed, curved=args.case == "curved")
        key = f"{args.case}_{args.samples}_{args.seed}"
    cache = Path(args.cache) / f"{key}.npy"
    if cache.is_file():
        observed = np.load(cache, allow_pickle=False)
    else:
        import torch

        torch.set_num_threads(1)
        torch.set_flush_denormal(True)
        observed = deepwave_data(truth, survey)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, observed, allow_pickle=False)
    if args.boundary is not None:
        survey = survey.replace(boundary=args.boundary)
    return survey, truth, observed


def main() -> None:
    args = _parse()
    survey, truth, observed = _case(args)
    from keras_fwi.physics import refine

    if args.model:
        start = refine.predict_start(args.model, observed, "flatvel-a", survey)
    else:
        start = smoothed(truth, args.sigma)
    options = {key: value for key, value in (("iterations", args.iterations), ("method", args.method),
                                             ("tv", args.tv if args.tv is None or len(args.tv) > 1
                                              else args.tv[0]), ("lateral", args.lateral),
                                             ("lateral_smoothness", args.lateral_smoothness),
                                             ("learning_rate", args.learning_rate),
                                             ("lbfgs_memory", args.lbfgs_memory),
                                             ("frequencies", args.frequencies),
                                             ("grid_factors", args.grid_factors), ("time_gain", args.time_gain),
                                             ("windows", args.windows), ("correct_every", args.correct_every),
                                             ("blocks", args.blocks), ("precondition", args.precondition))
               if value is not None}
    if args.iterations_per_stage:
        options["iterations"] = args.iterations_per_stage
    if args.case == "marmousi":
        options.setdefault("frequencies", (5.0, 8.0, None))
        options.setdefault("iterations", 60)
    cpu = time.process_time()
    report = refine.refine(observed, start, survey, dataset=None, labels=truth, progress=False, **options)
    cpu = (time.process_time() - cpu) / len(truth)
    summary = report["summary"]
    figures = {"case": args.case, "samples": len(truth), "start": args.model or f"smoothed truth, sigma {args.sigma}",
               "boundary": survey.boundary, "settings": {k: v for k, v in report["settings"].items() if k != "survey"},
               "mae_before": summary["mae_before"], "mae_after": summary["mae_after"],
               "mae_before_per_sample": summary["mae_before_per_sample"],
               "mae_after_per_sample": summary["mae_after_per_sample"],
               "misfit_before": summary["misfit_before"], "misfit_after": summary["misfit_after"],
               "wall_s_per_sample": summary["seconds_per_sample"], "cpu_s_per_sample": cpu,
               "load_average": os.getloadavg()[0]}
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({**figures, "history": report["history"]}))
        np.save(Path(args.json).with_suffix(".npy"), np.stack([truth, start, report["velocity"]]), allow_pickle=False)


if __name__ == "__main__":
    main()
