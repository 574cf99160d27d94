"""Inference throughput: the exported ONNX InversionNet in onnxruntime against Keras ``predict`` and the
PyTorch InversionNet in eager mode, in one process, on the same inputs.

The full-width network (24.4 M parameters) gets the same weights in all three (the PyTorch model's,
copied into Keras with ``keras_fwi.models.torch_import``; outputs are checked to agree), and each
call predicts one batch of 16 normalised samples. The ONNX file is written by
``keras_fwi.export.export_onnx`` and run by ``keras_fwi.export.Predictor`` on the CPU, exactly as a
user gets them. Rounds alternate the runners, so load from other processes on a shared machine hits
them alike; ratios are medians over rounds of (onnxruntime samples/s) / (peer samples/s) measured in
the same round (the order of the runners rotates from round to round), and the ratio of the best rates
(least disturbed calls, as ``timeit`` reports).

Usage:
    python benchmarks/bench_onnx.py --rounds 12 --batch-size 16 [--plain]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def build_models(seismic: np.ndarray):
    """PyTorch reference InversionNet (eval mode) and the Keras one with its weights.

    BatchNorm statistics are set to those of ``seismic`` (one forward pass in training mode with a
    cumulative average), so outputs span tanh's range instead of sitting near 0 as a freshly
    initialised network's do, and the agreement check means something.
    """
    import torch

    import keras_fwi.models
    from keras_fwi.models.torch_import import assign_torch_weights
    from keras_fwi.models.torch_reference import InversionNet

    torch.manual_seed(0)
    reference = InversionNet()
    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: after one batch, exactly its statistics
    with torch.no_grad():
        reference.train()(torch.from_numpy(seismic[:8]))
    reference.eval()
    model = keras_fwi.models.inversionnet()
    state = {key: value.numpy() for key, value in reference.state_dict().items()}
    assign_torch_weights(model, state, "inversionnet")
    return reference, model


def time_call(call, settle_s: float) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call.

    CPU time is reported too because the machine is shared: it is less sensitive than wall time to
    being descheduled, though it counts thread pools' spin-waiting as work.
    """
    # Idle thread pools of the runner before (OpenMP, Eigen, onnxruntime) spin for a while after a
    # call; letting them settle keeps one runner's spinning out of the next one's time.
    time.sleep(settle_s)
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def _plain_predictor(model, path, args):
    """The same export with keras_fwi's graph passes switched off: what tf2onnx alone writes."""
    from keras_fwi.export import Predictor, export_onnx, graph_passes

    optimize = graph_passes.optimize
    graph_passes.optimize = lambda proto: proto
    try:
        export_onnx(model, path)
    finally:
        graph_passes.optimize = optimize
    return Predictor(path, providers=["cpu"], batch_size=args.batch_size, threads=args.threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--settle", type=float, default=0.5, help="seconds of idle before each timed call")
    parser.add_argument("--plain", action="store_true",
                        help="also time tf2onnx's graph without keras_fwi's graph passes (onnxruntime-plain)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (default: ORT's)")
    args = parser.parse_args()

    import torch

    from keras_fwi.export import Predictor, export_onnx

    seismic = np.random.default_rng(0).uniform(-1, 1, (args.batch_size, 5, 1000, 70)).astype("float32")
    reference, model = build_models(seismic)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "inversionnet.onnx")
        started = time.perf_counter()
        export_onnx(model, path)
        export_s = time.perf_counter() - started
        predictor = Predictor(path, providers=["cpu"], batch_size=args.batch_size, threads=args.threads)
        plain = _plain_predictor(model, os.path.join(folder, "plain.onnx"), args) if args.plain else None

    seismic_torch = torch.from_numpy(seismic)

    def run_torch():
        with torch.inference_mode():
            return reference(seismic_torch).numpy()

    runners = {
        "onnxruntime": lambda: predictor.predict(seismic),
        "keras-predict": lambda: model.predict(seismic, batch_size=args.batch_size, verbose=0),
        "torch-eager": run_torch,
    }
    if plain is not None:
        runners["onnxruntime-plain"] = lambda: plain.predict(seismic)
    outputs = {name: run() for name, run in runners.items()}  # also the first warm-up call
    agreement = {name: float(np.max(np.abs(out - outputs["torch-eager"]))) for name, out in outputs.items()}
    for _ in range(args.warmup - 1):
        for run in runners.values():
            run()

    seconds = {name: [] for name in runners}
    cpu_seconds = {name: [] for name in runners}
    names = list(runners)
    for round_index in range(args.rounds):
        shift = round_index % len(names)  # rotate who goes first, so no runner always follows another
        for name in names[shift:] + names[:shift]:
            wall, cpu = time_call(runners[name], args.settle)
            seconds[name].append(wall)
            cpu_seconds[name].append(cpu)
    rates = {name: [args.batch_size / s for s in times] for name, times in seconds.items()}

    print(f"InversionNet 5x1000x70 -> 70x70, batch {args.batch_size}, {args.rounds} rounds, torch threads "
          f"{torch.get_num_threads()}, onnxruntime threads {args.threads or 'default'}; export took {export_s:.1f} s")
    print(f"output std {np.std(outputs['torch-eager']):.3f}; max abs difference to PyTorch: "
          + ", ".join(f"{k} {v:.2e}" for k, v in agreement.items() if k != "torch-eager"))
    for name, values in rates.items():
        cpu_per_sample = statistics.median(cpu_seconds[name]) / args.batch_size
        print(f"{name:14s} median {statistics.median(values):6.2f} samples/s, best {max(values):6.2f} "
              f"(worst {min(values):.2f}); {cpu_per_sample:.3f} CPU s/sample")
    for peer in [name for name in runners if name != "onnxruntime"]:
        ratios = [ort / other for ort, other in zip(rates["onnxruntime"], rates[peer])]
        print(f"onnxruntime / {peer}: {statistics.median(ratios):.2f}x median of per-round ratios, "
              f"{max(rates['onnxruntime']) / max(rates[peer]):.2f}x best vs best")


if __name__ == "__main__":
    main()
