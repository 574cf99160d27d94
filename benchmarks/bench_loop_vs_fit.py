"""The quickstart trained by ``model.fit`` (an older ``trainer.py``) and by ``keras_fwi.training.loop``.

Usage (the ``fit`` trainer is the last commit before the loop)::

    git show 2e3b626:keras_fwi/training/trainer.py > /tmp/trainer_fit.py
    PYTHONPATH=$PWD python benchmarks/bench_loop_vs_fit.py /tmp/trainer_fit.py --epochs 2 --rounds 2

Runs fit, loop, fit, loop … (``--rounds`` each) on the cached quickstart data and prints the wall
and CPU seconds of the training step of ``train`` (``fit_epochs``) only, without the final evaluation.
"""

import argparse
import importlib.util
import json
import pathlib
import sys
import tempfile
import time

from keras_fwi.config import load_config
from keras_fwi.training import trainer as loop_trainer


def _load(path):
    spec = importlib.util.spec_from_file_location("trainer_fit", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["trainer_fit"] = module
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fit_trainer", help="path of a trainer.py whose fit_epochs calls model.fit")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    modules = {"fit": _load(args.fit_trainer), "loop": loop_trainer}
    seconds = {name: [] for name in modules}
    for name, module in modules.items():
        def timed(*a, _step=module.fit_epochs, _name=name, **k):
            wall, cpu = time.perf_counter(), time.process_time()
            _step(*a, **k)
            seconds[_name].append([round(time.perf_counter() - wall, 1), round(time.process_time() - cpu, 1)])
        module.fit_epochs = timed
        module.finish = lambda *a, **k: {}
    for _ in range(args.rounds):
        for module in modules.values():
            config = load_config("quickstart", [f"training.epochs={args.epochs}", "training.recompute_batch_norm=false",
                                                "training.figure_samples=0"])
            module.train(config, pathlib.Path(tempfile.mkdtemp()) / "run", verbose=0, progress=lambda _: None)
    for name, values in seconds.items():
        print(name, "[wall s, CPU s] per run:", json.dumps(values))


if __name__ == "__main__":
    main()
