"""``keras_fwi models``: list the architectures with their default shapes and parameter counts."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list architectures with their default input/output shapes and parameter counts",
        description="List the network architectures keras_fwi builds, at their reference defaults.")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from keras_fwi import models

    rows = [("architecture", "input (batch, shots, time, receivers)", "output", "trainable parameters")]
    for arch, builder in models.ARCHITECTURES.items():
        model = builder()
        trainable = sum(int(weight.shape.num_elements()) for weight in model.trainable_weights)
        rows.append((arch, str(model.input_shape), str(model.output_shape), f"{trainable:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0
