"""The ``keras_fwi`` command line: one module per subcommand, each a thin layer over the library.

Each subcommand module defines ``add_parser(subparsers)``, which registers its parser and sets
``func`` to a ``run(args) -> int`` that calls the Python API. TensorFlow is imported only inside
``run`` so that ``keras_fwi --version`` and ``--help`` answer at once.

Commands that use TensorFlow start it through ``keras_fwi._system.start_tensorflow``: its C++ start-up
lines are dropped unless ``--verbose``, and one line says the device and precision instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import keras_fwi

# Commands that import TensorFlow; `train` states its precision itself (it comes from the experiment).
TENSORFLOW_COMMANDS = ("models", "import-torch", "train", "evaluate", "generate", "export", "refine")

# Module names under keras_fwi.cli, in the order `keras_fwi --help` lists them.
SUBCOMMANDS = (
    "models",
    "datasets",
    "import_torch",
    "train",
    "evaluate",
    "generate",
    "export",
    "predict",
    "refine",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras_fwi",
        description="Data-driven seismic full-waveform inversion with Keras: InversionNet, FCNVMB, "
                    "wave simulation, ONNX export.")
    parser.add_argument("--version", action="version", version=f"keras_fwi {keras_fwi.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS:
        importlib.import_module(f"keras_fwi.cli.{module_name}").add_parser(subparsers)
    for subparser in subparsers.choices.values():
        subparser.add_argument("--verbose", action="store_true",
                               help="show TensorFlow's and onnxruntime's own start-up and device messages")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code. Expected errors print one line, not a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command in TENSORFLOW_COMMANDS:
            from keras_fwi._system import start_tensorflow

            args.device = start_tensorflow(args.verbose)
            if args.command != "train":
                print(f"device: {args.device}, precision float32")
        return int(args.func(args) or 0)
    except (ValueError, OSError, ImportError) as error:  # OSError: every file-system error is the user's to fix
        print(f"keras_fwi {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nkeras_fwi {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130


def _one_line(error: BaseException) -> str:
    """The error's message; an ``OSError`` raised by the OS itself also names its file and errno text."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        return f"{error.filename}: {error.strerror}"
    return str(error).strip() or type(error).__name__


def _resume_hint(args) -> str:
    """How a command that keeps its finished work continues after Ctrl-C."""
    if args.command == "generate":
        return "; the files already written are complete: continue with the same command plus --resume"
    return ""
