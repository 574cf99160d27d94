"""Simulation throughput: keras_fwi.physics.simulate against deepwave.scalar on OpenFWI's survey.

Both run OpenFWI's survey (70 x 70 cells of 10 m, 5 shots, 70 receivers, 1000 steps of 1 ms, 15 Hz)
on FlatVel-A models in alternating rounds in one process; the figures are medians over rounds of wall
time and of process CPU time per model (the machine is shared, so both are printed with the load
average). deepwave runs with accuracy 4, one call per model (its batch is the shots) and torch's
denormal flushing on (TensorFlow flushes denormals by default; without it deepwave's PML is several
times slower), with 1 and 2 torch threads; the faster is the peer.

Cases: keras_fwi's default (a 12-cell CPML) against deepwave at the PML width that reaches the same
agreement with a 120-cell PML (``--peer-widths``, default 20) and at equal width (12); OpenFWI's own
120-cell damping layer with ``--damping``. Each case's data are compared with deepwave's 120-cell
result (relative RMS), so "equal agreement" is measured, not assumed.

Also printed: time and peak extra memory of one gradient (a child process per case, ru_maxrss).

    python benchmarks/bench_simulate.py --models 4 --rounds 3
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


def _deepwave_runner(survey, pml_width: int):
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
                                  pml_width=pml_width, pml_freq=survey.frequency)
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


def _gradient_memory(case: str) -> None:
    """Child process: print the extended grid's size, the peak RSS growth (MiB) and the wall time (s)
    of one gradient of sum(data^2) for one model, measured after a warm-up gradient (so compilation is
    not counted) with the high-water mark reset through /proc/self/clear_refs. ``case`` is
    ``keras_fwi-cpml``, ``keras_fwi-cpml-kept`` (``keep_wavefields``, as ``invert`` simulates),
    ``keras_fwi-damping`` or ``deepwave-WIDTH``."""
    from keras_fwi.physics import Survey, simulate
    from keras_fwi.physics.families import velocity_model

    velocity = velocity_model("flatvel-a", 0)
    if case.startswith("keras_fwi"):
        import tensorflow as tf

        survey = Survey.openfwi(absorbing=case.split("-")[1])
        v = tf.Variable(velocity[None])
        cells = (survey.nz + 2 * survey.boundary) * (survey.nx + 2 * survey.boundary)

        def gradient():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(simulate(v, survey, parallel=1, keep_wavefields=case.endswith("-kept")) ** 2)
            return tape.gradient(loss, v).numpy()
    else:
        import torch

        torch.set_num_threads(1)
        torch.set_flush_denormal(True)
        width = int(case.split("-")[1])
        run = _deepwave_runner(Survey.openfwi(), width)
        cells = (70 + 2 * width) ** 2

        def gradient():
            return run(velocity, requires_grad=True)
    gradient()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # reset VmHWM to the current RSS
    before = _memory_mib("VmRSS")
    wall, _ = _timed(gradient)
    print(cells, _memory_mib("VmHWM") - before, wall)


def _relative_rms(data: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(data - reference) / np.linalg.norm(reference))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=4, help="FlatVel-A models per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer-widths", type=int, nargs="+", default=[20, 12], help="deepwave PML widths")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="torch thread counts to run deepwave with; the fastest is the peer")
    parser.add_argument("--damping", action="store_true", help="also time OpenFWI's 120-cell damping layer")
    parser.add_argument("--skip-gradient", action="store_true")
    parser.add_argument("--gradient-only", action="store_true", help="only the gradient time and memory")
    parser.add_argument("--gradient-case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gradient_case:
        _gradient_memory(args.gradient_case)
        return
    if not args.gradient_only:
        _throughput(args)
    if not args.skip_gradient:
        cases = ["keras_fwi-cpml", "keras_fwi-cpml-kept", "keras_fwi-damping"]
        for case in cases + [f"deepwave-{w}" for w in args.peer_widths]:
            out = subprocess.run([sys.executable, __file__, "--gradient-case", case], capture_output=True, text=True,
                                 check=True)
            cells, growth, wall = (float(item) for item in out.stdout.split()[-3:])
            print(f"  one gradient, 1 model x 5 shots, {case:19s}: {wall:6.2f} s, +{growth:5.0f} MiB peak RSS "
                  f"({cells:.0f} grid cells)")


def _throughput(args) -> None:
    import tensorflow as tf
    import torch

    from keras_fwi.physics import Survey, simulate
    from keras_fwi.physics.families import velocity_models

    torch.set_flush_denormal(True)
    velocity = velocity_models("flatvel-a", args.models, seed=0)
    print(f"TF {tf.__version__}, torch {torch.__version__}, deepwave {__import__('deepwave').__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    default = Survey.openfwi()
    reference = np.stack([_deepwave_runner(default, 120)(m).numpy() for m in velocity])
    # deepwave records one step late and injects -v^2 dt^2 w: ours[n] = -theirs[n + 1].
    reference = -np.transpose(reference, (0, 1, 3, 2))[:, :, 1:]
    surveys = {"keras_fwi default (12-cell CPML)": default}
    if args.damping:
        surveys["keras_fwi OpenFWI damping (120)"] = Survey.openfwi(absorbing="damping")
    cases, agreement = {}, {}
    for name, survey in surveys.items():
        cases[name] = lambda survey=survey: simulate(velocity, survey).numpy()
        agreement[name] = _relative_rms(cases[name]()[:, :, :-1], reference)
    for width in args.peer_widths:
        run = _deepwave_runner(default, width)
        outputs = np.stack([run(m).numpy() for m in velocity])
        for threads in args.threads:
            name = f"deepwave PML {width} ({threads} thread{'s' * (threads > 1)})"
            cases[name] = lambda threads=threads, run=run: (torch.set_num_threads(threads), [run(m) for m in velocity])
            agreement[name] = _relative_rms(-np.transpose(outputs, (0, 1, 3, 2))[:, :, 1:], reference)
    for case in cases.values():
        case()  # warm-up (XLA compilation, torch's first call)
    timings = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, case in cases.items():
            timings[name].append(_timed(case))
    print(f"load average {os.getloadavg()[0]:.1f}; agreement = relative RMS against deepwave with a 120-cell PML")
    wall = {name: statistics.median(w for w, _ in runs) / args.models for name, runs in timings.items()}
    for width in args.peer_widths:
        peer = min(w for name, w in wall.items() if name.startswith(f"deepwave PML {width} "))
        print(f"  speed-up of the keras_fwi default vs the fastest deepwave with a {width}-cell PML: "
              f"{peer / wall['keras_fwi default (12-cell CPML)']:.2f}x")
    for name, runs in timings.items():
        cpu = statistics.median(c for _, c in runs) / args.models
        print(f"  {name:36s} {wall[name]:6.3f} s/model wall ({1 / wall[name]:5.2f} models/s), {cpu:6.3f} s/model "
              f"CPU, agreement {agreement[name]:.4f}")


if __name__ == "__main__":
    main()
