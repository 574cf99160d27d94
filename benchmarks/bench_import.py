"""Import cost of keras_fwi: fresh ``import keras_fwi``, and ``import keras_fwi`` after Keras (registration).

    python benchmarks/bench_import.py [ROOT ...]   # each ROOT a source tree put first on PYTHONPATH

Each figure is the median (and minimum) over fresh interpreters; TF_CPP_MIN_LOG_LEVEL=3.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys


def timed(prelude: str, code: str, root: str, repeats: int) -> tuple[float, float]:
    """(median, min) seconds of ``code`` after ``prelude``, each in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
    program = f"{prelude}\nimport time\nstart = time.perf_counter()\n{code}\nprint(time.perf_counter() - start)"
    values = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env, check=True)
        values.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(values), min(values)


def main(roots: list[str]) -> None:
    for root in roots:
        fresh = timed("", "import keras_fwi", root, 5)
        after = timed("import keras", "import keras_fwi", root, 3)
        print(f"{root}: import keras_fwi {fresh[0]:.4f} s (min {fresh[1]:.4f}); "
              f"after import keras {after[0]:.3f} s (min {after[1]:.3f})")


if __name__ == "__main__":
    main(sys.argv[1:] or [os.getcwd()])
