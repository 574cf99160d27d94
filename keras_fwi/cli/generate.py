"""``keras_fwi generate``: synthesise a dataset in OpenFWI's layout with the built-in simulator."""

from __future__ import annotations

import argparse

_FAMILIES = ("flatvel-a", "flatvel-b", "curvevel-a", "curvevel-b", "flatfault-a", "curvefault-a", "salt")


def _shard(text: str) -> tuple[int, int]:
    """Parse ``I/N`` (0-based job I of N)."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 <= I < N, got {text!r}")
    return index, count


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="synthesise velocity models and shot gathers in OpenFWI's file layout",
        description="Draw velocity models from a family, simulate them with OpenFWI's finite-difference "
                    "scheme and write data{i}.npy / model{i}.npy, train.txt / test.txt and dataset.json.")
    parser.add_argument("--family", required=True, choices=_FAMILIES, help="velocity-model family")
    parser.add_argument("--samples", required=True, type=int, help="total number of samples")
    parser.add_argument("--per-file", type=int, default=500, help="samples per file (default 500, as OpenFWI)")
    parser.add_argument("--survey", choices=("openfwi", "fcnvmb"), default="openfwi",
                        help="acquisition preset (default openfwi)")
    parser.add_argument("--absorbing", choices=("cpml", "damping"), default=None,
                        help="absorbing layer: cpml (default; a convolutional PML, fast and accurate) or damping "
                             "(OpenFWI's own 120-cell layer, to reproduce OpenFWI's data bit for bit)")
    parser.add_argument("--boundary", type=int, default=None,
                        help="absorbing layer width in cells (default: 12 for cpml, 120 for damping)")
    parser.add_argument("--free-surface", action="store_true", help="pressure-free top edge (OpenFWI has none)")
    parser.add_argument("--smooth", type=float, default=None, help="Gaussian sigma in cells to smooth the models")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N",
                        help="write only job I's share of N (files with (i-1) %% N == I)")
    parser.add_argument("--batch-size", type=int, default=4, help="models simulated together (default 4)")
    parser.add_argument("--out", required=True, help="output folder")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    group.add_argument("--overwrite", action="store_true", help="replace dataset files already in --out")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_fwi.physics import generate

    changes = {}
    if args.absorbing is not None:
        changes["absorbing"] = args.absorbing
    if args.boundary is not None:
        changes["boundary"] = args.boundary
    if args.free_surface:
        changes["free_surface"] = True
    survey = generate.SURVEYS[args.survey](**changes)
    summary = generate.generate_dataset(
        args.out, args.family, args.samples, per_file=args.per_file, survey=survey, seed=args.seed,
        smooth=args.smooth, shard=args.shard, resume=args.resume, overwrite=args.overwrite,
        batch_size=args.batch_size)
    print(f"wrote {len(summary['written'])} file pair(s), kept {len(summary['skipped'])} in {args.out} "
          f"({summary['family']}, seed {summary['seed']}, {summary['samples']} samples)")
    return 0
