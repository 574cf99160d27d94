"""``keras_fwi datasets``: list the dataset presets, or check a set of files against one."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "datasets", help="list dataset presets; with --check, validate data files against one",
        description="List the dataset presets (OpenFWI, FCNVMB) with their shapes, ranges and splits. With "
                    "--check SOURCE, run every check the training pipeline runs on the files, read as the "
                    "preset's format (OpenFWI .npy, or FCNVMB .mat read and decimated as training does).")
    parser.add_argument("--check", metavar="SOURCE",
                        help="OpenFWI split file or directory of data<i>.npy/model<i>.npy, or for an FCNVMB preset a "
                             "folder such as georec_train (velocity files beside it or in vmodel_train) or a .mat file")
    parser.add_argument("--dataset", default=None, help="preset to check against (required with --check)")
    parser.set_defaults(func=run)


def _table() -> list[tuple[str, ...]]:
    from keras_fwi.data import get_preset, preset_names

    rows = [("dataset", "seismic (shots, time, receivers)", "velocity", "data range", "m/s", "train / test files")]
    for name in preset_names():
        preset = get_preset(name)
        data_range = "-" if preset.data_min is None else f"{preset.data_min:g} .. {preset.data_max:g}"
        velocity_range = "-" if preset.label_min is None else f"{preset.label_min:g} .. {preset.label_max:g}"
        split = "-" if preset.train_files is None else (f"{preset.train_files[0]}-{preset.train_files[1]} / "
                                                        f"{preset.test_files[0]}-{preset.test_files[1]}")
        rows.append((name, str(preset.seismic_shape), str(preset.velocity_shape), data_range, velocity_range, split))
    return rows


def run(args: argparse.Namespace) -> int:
    if args.check is None:
        rows = _table()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        return 0
    if args.dataset is None:
        raise ValueError("--check needs --dataset NAME (see `keras_fwi datasets` for the names)")
    from keras_fwi.data import get_preset

    preset = get_preset(args.dataset)
    if preset.format == "fcnvmb":  # the preset decides the reader, not the file suffix
        from keras_fwi.data.fcnvmb import check_fcnvmb_files

        summary = check_fcnvmb_files(args.check, dataset=preset)
    else:
        from keras_fwi.data.checks import check_openfwi_files  # NumPy only: no TensorFlow start-up

        summary = check_openfwi_files(args.check, dataset=preset)
    kind = "labelled" if summary["labelled"] else "unlabelled"
    print(f"{args.check}: {summary['files']} file(s), {summary['samples']} {kind} samples, all checks passed "
          f"for dataset {args.dataset!r}")
    return 0
