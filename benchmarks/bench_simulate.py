"""Simulation throughput: keras_fwi.physics.simulate against deepwave.scalar on OpenFWI's survey.

Both run OpenFWI's survey (70 x 70 cells of 10 m, 5 shots, 70 receivers, 1000 steps of 1 ms, 15 Hz)
on FlatVel-A models, with equal absorbing widths (OpenFWI's damping layer for us, deepwave's PML),
in alternating rounds in one process; the figures are medians over rounds of wall time and of
process CPU time per model (the machine is shared, so both are printed with the load average).
deepwave runs with accuracy 4, one call per model (its batch is the shots) and torch's denormal
flushing on (TensorFlow flushes denormals by default; without it deepwave's PML is several times slower).

Also printed: the peak extra memory one gradient needs (a child process per case, ru_maxrss), and
the difference a narrow boundary makes to the data (relative RMS against the 120-cell result).

    python benchmarks/bench_simulate.py --models 4 --rounds 3 --boundaries 120 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np


def _timed(function) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def _deepwave_runner(survey):
    import deepwave
    import torch

    sources = torch.tensor(np.stack([survey.source_z, survey.source_x], axis=1)[:, None, :])
    receivers = torch.tensor(np.repeat(np.stack([survey.receiver_z, survey.receiver_x], axis=1)[None],
                                       survey.shots, axis=0))
    amplitudes = torch.tensor(survey.wavelet(), dtype=torch.float32)[None, None].repeat(survey.shots, 1, 1)

    def run(velocity, requires_grad=False):
        v = torch.tensor(velocity, requires_grad=requires_grad)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = deepwave.scalar(v, survey.dx, survey.dt, source_amplitudes=amplitudes,
                                  source_locations=sources, receiver_locations=receivers, accuracy=4,
                                  pml_width=survey.boundary, pml_freq=survey.frequency)
        if requires_grad:
            out[-1].square().sum().backward()
        return out[-1]

    return run


def _memory_mib(field: str) -> float:
    """A line of /proc/self/status (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _gradient_memory(kind: str, boundary: int) -> None:
    """Child process: print the wavefield size and the peak RSS growth (MiB) of one gradient of
    sum(data^2), measured after a warm-up gradient (so compilation is not counted) with the
    high-water mark reset through /proc/self/clear_refs."""
    from keras_fwi.physics import Survey, simulate
    from keras_fwi.physics.families import velocity_model

    survey = Survey.openfwi(boundary=boundary)
    velocity = velocity_model("flatvel-a", 0)
    fields = survey.nt * survey.shots * (survey.nz + 2 * boundary) * (survey.nx + 2 * boundary) * 4
    if kind == "keras_fwi":
        import tensorflow as tf

        v = tf.Variable(velocity[None])

        def gradient():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(simulate(v, survey, parallel=1) ** 2)
            return tape.gradient(loss, v).numpy()
    else:
        import torch

        torch.set_num_threads(1)
        torch.set_flush_denormal(True)
        run = _deepwave_runner(survey)

        def gradient():
            return run(velocity, requires_grad=True)
    gradient()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset VmHWM to the current RSS
    before = _memory_mib("VmRSS")
    gradient()
    print(fields / 2 ** 20, _memory_mib("VmHWM") - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=4, help="FlatVel-A models per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--boundaries", type=int, nargs="+", default=[120, 40])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch thread counts to run deepwave with; the fastest is the peer")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help="only the gradient-memory figures")
    parser.add_argument("--gradient-memory", nargs=2, metavar=("KIND", "BOUNDARY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gradient_memory:
        _gradient_memory(args.gradient_memory[0], int(args.gradient_memory[1]))
        return

    import tensorflow as tf
    import torch

    from keras_fwi.physics import Survey, simulate
    from keras_fwi.physics.families import velocity_models

    torch.set_flush_denormal(True)
    velocity = velocity_models("flatvel-a", args.models, seed=0)
    print(f"TF {tf.__version__}, torch {torch.__version__}, deepwave {__import__('deepwave').__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    reference = None
    for boundary in sorted(args.boundaries, reverse=True):
        if args.memory_only:
            _print_memory(boundary)
            continue
        survey = Survey.openfwi(boundary=boundary)
        deepwave_run = _deepwave_runner(survey)
        cases = {
            "keras_fwi (parallel=default)": lambda: simulate(velocity, survey).numpy(),
            "keras_fwi (parallel=1)": lambda: simulate(velocity, survey, parallel=1).numpy(),
        }
        for threads in args.threads:
            cases[f"deepwave ({threads} thread{'s' * (threads > 1)})"] = (
                lambda threads=threads: (torch.set_num_threads(threads), [deepwave_run(m) for m in velocity]))
        compile_wall, _ = _timed(cases["keras_fwi (parallel=default)"])
        for name, case in cases.items():
            if name != "keras_fwi (parallel=default)":
                case()  # warm-up
        timings = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, case in cases.items():
                timings[name].append(_timed(case))
        print(f"\nboundary {boundary} cells (first keras_fwi call incl. XLA compile: {compile_wall:.1f} s), "
              f"load average {os.getloadavg()[0]:.1f}")
        peer_wall = min(statistics.median(w for w, _ in runs) for name, runs in timings.items()
                        if name.startswith("deepwave")) / args.models
        for name, runs in timings.items():
            wall = statistics.median(w for w, _ in runs) / args.models
            cpu = statistics.median(c for _, c in runs) / args.models
            print(f"  {name:30s} {wall:6.3f} s/model wall ({1 / wall:5.2f} models/s), {cpu:6.3f} s/model CPU, "
                  f"speed-up vs fastest deepwave {peer_wall / wall:4.2f}x")
        data = simulate(velocity, survey).numpy()
        if reference is None:
            reference = (boundary, data)
        else:
            difference = data - reference[1]
            print(f"  data vs the {reference[0]}-cell result: relative RMS "
                  f"{np.linalg.norm(difference) / np.linalg.norm(reference[1]):.4f}, max |diff| "
                  f"{np.abs(difference).max():.3f} (OpenFWI's FlatVel-A range is -26.95..52.77)")
        if not args.skip_memory:
            _print_memory(boundary)


def _print_memory(boundary: int) -> None:
    for kind in ("keras_fwi", "deepwave"):
        out = subprocess.run([sys.executable, __file__, "--gradient-memory", kind, str(boundary)],
                             capture_output=True, text=True, check=True)
        fields, growth = (float(item) for item in out.stdout.split()[-2:])
        print(f"  boundary {boundary}: one gradient, 1 model x 5 shots, {kind}: +{growth:.0f} MiB peak RSS "
              f"(all 1000 wavefields of the extended grid would be {fields:.0f} MiB)")


if __name__ == "__main__":
    main()
