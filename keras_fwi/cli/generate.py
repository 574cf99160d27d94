"""``keras_fwi generate``: synthesise a dataset in OpenFWI's or FCNVMB's layout with the built-in simulator."""

from __future__ import annotations

import argparse
import math

from keras_fwi._validation import non_negative_int, positive_int

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


def _checked(kind, check, flag: str):
    """An argparse type: ``kind(text)`` passed through ``check(flag, value)`` from ``keras_fwi._validation``."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be {_KINDS[kind]}, got {text!r}") from None
        try:
            return check(flag, value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


_KINDS = {int: "an integer", float: "a number"}


def _sigma(flag: str, value: float) -> float:
    """Return ``value``; raise ``ValueError`` unless it is a finite Gaussian sigma > 0."""
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{flag} must be a positive Gaussian sigma in cells, got {value!r}")
    return value


def _layers(text: str) -> tuple[str, ...]:
    """Parse ``cpml`` or a comma list such as ``cpml,cpml,damping`` (files cycle through it)."""
    layers = tuple(part.strip() for part in text.split(","))
    unknown = [layer for layer in layers if layer not in ("cpml", "damping")]
    if unknown:
        raise argparse.ArgumentTypeError(f"--absorbing takes cpml, damping or a comma list of them "
                                         f"(e.g. cpml,cpml,damping), got {text!r}")
    return layers


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="synthesise velocity models and shot gathers in OpenFWI's file layout",
        description="Draw velocity models from a family, simulate them with OpenFWI's finite-difference "
                    "scheme and write data{i}.npy / model{i}.npy, train.txt / test.txt and dataset.json; with "
                    "--dataset fcnvmb-simulated|fcnvmb-seg-salt (or --format fcnvmb), FCNVMB's .mat layout "
                    "instead: georec_train/<prefix><i>.mat (Rec) and vmodel_train/<prefix><i>.mat, plus "
                    "georec_test/vmodel_test with --test-samples.")
    parser.add_argument("--family", default=None, choices=_FAMILIES,
                        help="velocity-model family (required for OpenFWI's layout; FCNVMB's default: curvevel-a "
                             "for fcnvmb-simulated, salt for fcnvmb-seg-salt)")
    parser.add_argument("--format", choices=("openfwi", "fcnvmb"), default=None,
                        help="file layout (default openfwi; fcnvmb with an FCNVMB --dataset)")
    parser.add_argument("--dataset", default=None,
                        help="FCNVMB preset whose layout, file names and variables to write: fcnvmb-simulated "
                             "(georec/vmodel) or fcnvmb-seg-salt (srec/svmodel); implies --format fcnvmb")
    parser.add_argument("--test-samples", type=_checked(int, non_negative_int, "--test-samples"), default=0,
                        help="FCNVMB layout: held-out samples in georec_test/vmodel_test (default 0)")
    parser.add_argument("--samples", required=True, type=_checked(int, positive_int, "--samples"),
                        help="total number of samples")
    parser.add_argument("--per-file", type=_checked(int, positive_int, "--per-file"), default=None,
                        help="samples per file (default 500, as OpenFWI)")
    parser.add_argument("--survey", choices=("openfwi", "fcnvmb"), default=None,
                        help="acquisition preset (default openfwi)")
    parser.add_argument("--absorbing", type=_layers, default=None, metavar="LAYER[,LAYER...]",
                        help="absorbing layer: cpml (default; a convolutional PML, fast and accurate) or damping "
                             "(OpenFWI's own 120-cell layer, to reproduce OpenFWI's data bit for bit); a comma "
                             "list such as cpml,cpml,damping makes file i use layer (i-1) mod the list's length")
    parser.add_argument("--boundary", type=_checked(int, positive_int, "--boundary"), default=None,
                        help="absorbing layer width in cells (default: 12 for cpml, 120 for damping)")
    parser.add_argument("--free-surface", action="store_true", help="pressure-free top edge (OpenFWI has none)")
    parser.add_argument("--smooth", type=_checked(float, _sigma, "--smooth"), default=None,
                        help="Gaussian sigma in cells to smooth the models")
    parser.add_argument("--seed", type=_checked(int, non_negative_int, "--seed"), default=0,
                        help="dataset seed (default 0)")
    parser.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N",
                        help="write only job I's share of N (files with (i-1) %% N == I)")
    parser.add_argument("--batch-size", type=_checked(int, positive_int, "--batch-size"), default=4,
                        help="models simulated together (default 4)")
    parser.add_argument("--out", required=True, help="output folder")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    group.add_argument("--overwrite", action="store_true", help="replace dataset files already in --out")
    parser.set_defaults(func=run)


def _run_fcnvmb(args: argparse.Namespace, changes: dict) -> int:
    from keras_fwi.data.presets import get_preset
    from keras_fwi.physics.fcnvmb_files import fcnvmb_survey, generate_fcnvmb_dataset

    if args.survey == "openfwi" or args.shard != (0, 1) or args.per_file is not None:
        raise ValueError("--survey openfwi, --shard and --per-file apply to OpenFWI's layout; FCNVMB's layout is one "
                         "sample per file on FCNVMB's survey (drop them)")
    dataset = args.dataset or "fcnvmb-simulated"
    if get_preset(dataset).format != "fcnvmb":
        raise ValueError(f"--dataset {dataset} is not an FCNVMB preset; --dataset chooses FCNVMB's layout "
                         "(fcnvmb-simulated or fcnvmb-seg-salt); for OpenFWI's layout give --family without --dataset")
    summary = generate_fcnvmb_dataset(
        args.out, args.samples, dataset=dataset, family=args.family, test_samples=args.test_samples,
        survey=fcnvmb_survey(dataset, **changes), seed=args.seed, smooth=args.smooth, resume=args.resume,
        overwrite=args.overwrite, batch_size=args.batch_size)
    print(f"wrote {len(summary['written'])} sample(s), kept {len(summary['skipped'])} in {args.out} "
          f"({summary['dataset']} layout, {summary['family']}, seed {summary['seed']}, {summary['samples']} train + "
          f"{summary['test_samples']} test samples)")
    return 0


def run(args: argparse.Namespace) -> int:
    from keras_fwi.physics import generate

    if args.format == "openfwi" and args.dataset is not None:
        raise ValueError("--dataset names an FCNVMB layout; it cannot be combined with --format openfwi")
    changes, layers = {}, args.absorbing or ()
    if len(layers) > 1 and (args.boundary is not None or args.format == "fcnvmb" or args.dataset is not None):
        raise ValueError("a list of --absorbing layers applies to OpenFWI's layout, each layer at its default width "
                         "(drop --boundary, or give one layer)")
    if len(layers) == 1:
        changes["absorbing"] = layers[0]
    if args.boundary is not None:
        changes["boundary"] = args.boundary
    if args.free_surface:
        changes["free_surface"] = True
    if args.format == "fcnvmb" or args.dataset is not None:
        return _run_fcnvmb(args, changes)
    if args.family is None:
        raise ValueError("--family is required for OpenFWI's layout, e.g. --family flatvel-a")
    if args.test_samples:
        raise ValueError("--test-samples applies to FCNVMB's layout; OpenFWI's test split is the last files")
    survey = generate.SURVEYS[args.survey or "openfwi"](**changes)
    if len(layers) > 1:
        survey = [survey.replace(absorbing=layer) for layer in layers]
    summary = generate.generate_dataset(
        args.out, args.family, args.samples, per_file=args.per_file or 500, survey=survey, seed=args.seed,
        smooth=args.smooth, shard=args.shard, resume=args.resume, overwrite=args.overwrite,
        batch_size=args.batch_size)
    print(f"wrote {len(summary['written'])} file pair(s), kept {len(summary['skipped'])} in {args.out} "
          f"({summary['family']}, seed {summary['seed']}, {summary['samples']} samples)")
    return 0
