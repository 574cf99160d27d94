"""Training throughput: keras_fwi InversionNet (``model.fit``) against the PyTorch InversionNet in eager mode.

Both train the full-width network (24.4 M parameters) on the same random normalised batch, batch size
16 by default, float32 unless a Keras variant says otherwise, AdamW(lr 1e-4, weight decay 1e-4) and an
L1 loss, in one process. Rounds alternate PyTorch and every Keras variant, so load from other processes
on a shared machine hits them alike; the ratio reported is the median over rounds of
(Keras samples/s) / (PyTorch samples/s measured in the same round).

Keras variants (``--variants``, comma-separated):
    xla         jit_compile=True, OpenFWI layout (channels_first model: transposes inside the graph)
    graph       jit_compile=False (tf.function graph, no XLA), OpenFWI layout
    xla-cl      jit_compile=True, channels_last model (no transposes)
    graph-cl    jit_compile=False, channels_last model
    xla-bf16    jit_compile=True, mixed_bfloat16 policy, OpenFWI layout
    graph-bf16  jit_compile=False, mixed_bfloat16 policy, OpenFWI layout
    graph-fbn   experiment, not keras_fwi's model: ``graph`` with every BatchNormalization swapped for
                one calling TensorFlow's fused kernel (FusedBatchNormV3) in training, to measure what
                Keras 3's unfused moments + normalisation cost without XLA

Process-wide settings that TensorFlow reads once (oneDNN, thread pools) are flags or environment
variables of separate runs, e.g. ``TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/bench_train.py``.

Usage:
    python benchmarks/bench_train.py --steps 6 --warmup 2 --rounds 2 --variants xla,graph
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

VARIANTS = {  # name -> (jit_compile, data_format, dtype policy)
    "xla": (True, "channels_first", "float32"),
    "graph": (False, "channels_first", "float32"),
    "xla-cl": (True, "channels_last", "float32"),
    "graph-cl": (False, "channels_last", "float32"),
    "xla-bf16": (True, "channels_first", "mixed_bfloat16"),
    "graph-bf16": (False, "channels_first", "mixed_bfloat16"),
    "graph-fbn": (False, "channels_first", "float32"),
}


def fused_batch_norm_clone(model):
    """``model`` with BatchNormalization layers that run TF's fused kernel in training (benchmark only)."""
    import keras
    import tensorflow as tf

    class FusedBatchNorm(keras.layers.BatchNormalization):
        def call(self, inputs, training=None, mask=None):
            if not training or self.axis not in (3, -1):
                return super().call(inputs, training=training, mask=mask)
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, self.gamma, self.beta, epsilon=self.epsilon, data_format="NHWC", is_training=True)
            count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], variance.dtype)
            variance = variance * (count - 1) / count  # the kernel returns the unbiased variance; Keras keeps the biased one
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1 - self.momentum))
            return outputs

    def swap(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            return FusedBatchNorm.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=swap)


def random_batch(batch_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normalised seismic (batch, 5, 1000, 70) and velocity (batch, 1, 70, 70), uniform in [-1, 1]."""
    rng = np.random.default_rng(seed)
    seismic = rng.uniform(-1, 1, (batch_size, 5, 1000, 70)).astype("float32")
    velocity = rng.uniform(-1, 1, (batch_size, 1, 70, 70)).astype("float32")
    return seismic, velocity


class TorchRunner:
    """Eager PyTorch training steps of the reference InversionNet."""

    name = "torch-eager"

    def __init__(self, seismic: np.ndarray, velocity: np.ndarray):
        import torch

        from keras_fwi.models.torch_reference import InversionNet

        self.torch = torch
        torch.manual_seed(0)
        self.model = InversionNet().train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4)
        self.loss = torch.nn.L1Loss()
        self.seismic, self.velocity = torch.from_numpy(seismic), torch.from_numpy(velocity)

    def run(self, steps: int) -> float:
        """Train ``steps`` steps; return the last loss."""
        for _ in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.seismic), self.velocity)
            loss.backward()
            self.optimizer.step()
        return float(loss.item())


class KerasRunner:
    """``model.fit`` steps of keras_fwi's InversionNet in one variant."""

    def __init__(self, name: str, seismic: np.ndarray, velocity: np.ndarray):
        import keras
        import tensorflow as tf

        from keras_fwi import models

        self.name = name
        jit_compile, data_format, policy = VARIANTS[name]
        keras.config.set_dtype_policy(policy)
        try:
            keras.utils.set_random_seed(0)
            self.model = models.inversionnet(data_format=data_format)
            if name == "graph-fbn":
                self.model = fused_batch_norm_clone(self.model)
        finally:
            keras.config.set_dtype_policy("float32")
        self.model.compile(optimizer=keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=1e-4),
                           loss="mae", jit_compile=jit_compile)
        if data_format == "channels_last":
            seismic, velocity = seismic.transpose(0, 2, 3, 1), velocity.transpose(0, 2, 3, 1)
        self.dataset = tf.data.Dataset.from_tensors((seismic, velocity)).repeat()

    def run(self, steps: int) -> float:
        """Train ``steps`` steps with ``model.fit`` (its compiled train function is reused); return the loss."""
        history = self.model.fit(self.dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
        return float(history.history["loss"][-1])


def timed(runner, steps: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process over all threads, loss) for ``steps`` training steps."""
    start, start_cpu = time.perf_counter(), time.process_time()
    loss = runner.run(steps)
    return time.perf_counter() - start, time.process_time() - start_cpu, loss


def load_average() -> str:
    """The 1-minute load average, to show how busy the shared machine was."""
    return f"{os.getloadavg()[0]:.1f}"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing, XLA compile)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variants", default="xla,graph,xla-cl,xla-bf16",
                        help=f"comma-separated Keras variants from: {', '.join(VARIANTS)}")
    parser.add_argument("--intra-op-threads", type=int, default=0, help="TensorFlow intra-op threads (0: TF default)")
    parser.add_argument("--inter-op-threads", type=int, default=0, help="TensorFlow inter-op threads (0: TF default)")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch.set_num_threads (0: torch default)")
    args = parser.parse_args(argv)
    args.variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    return args


def configure_threads(args: argparse.Namespace) -> None:
    """Apply thread settings before TensorFlow and torch start their pools."""
    import tensorflow as tf
    import torch

    if args.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
    if args.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(args.inter_op_threads)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)


def main(argv=None) -> None:
    args = parse_args(argv)
    configure_threads(args)
    import tensorflow as tf
    import torch

    print(f"TF {tf.__version__} (oneDNN opts env: {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}), "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), cores {os.cpu_count()}, "
          f"batch {args.batch_size}, {args.warmup} warm-up + {args.steps} timed steps, {args.rounds} rounds")
    seismic, velocity = random_batch(args.batch_size)
    runners = [TorchRunner(seismic, velocity)] + [KerasRunner(name, seismic, velocity) for name in args.variants]
    for runner in runners:
        seconds, _, _ = timed(runner, args.warmup)
        print(f"warm-up {runner.name:12s} {seconds:7.1f} s for {args.warmup} steps (incl. tracing/compile)")

    # Wall-clock rate, and the rate per CPU-second: on a machine shared with other jobs the second is
    # steadier, since it does not count time this process spent waiting for a core.
    rates: dict[str, list[float]] = {runner.name: [] for runner in runners}
    cpu_rates: dict[str, list[float]] = {runner.name: [] for runner in runners}
    samples = args.steps * args.batch_size
    for round_index in range(args.rounds):
        for runner in runners:
            seconds, cpu_seconds, loss = timed(runner, args.steps)
            rates[runner.name].append(samples / seconds)
            cpu_rates[runner.name].append(samples / cpu_seconds)
            print(f"round {round_index + 1} {runner.name:12s} {rates[runner.name][-1]:6.2f} samples/s "
                  f"{cpu_rates[runner.name][-1]:6.2f} samples/CPU-s (loss {loss:.4f}, load {load_average()})")

    print("\nmedians over rounds; ratios are per round against PyTorch, then the median")
    print(f"{'variant':12s} {'samples/s':>10s} {'x PyTorch':>10s} {'samples/CPU-s':>14s} {'x PyTorch':>10s}")
    for name in rates:
        ratio = statistics.median(v / t for v, t in zip(rates[name], rates[TorchRunner.name]))
        cpu_ratio = statistics.median(v / t for v, t in zip(cpu_rates[name], cpu_rates[TorchRunner.name]))
        print(f"{name:12s} {statistics.median(rates[name]):10.2f} {ratio:10.2f} "
              f"{statistics.median(cpu_rates[name]):14.2f} {cpu_ratio:10.2f}")


if __name__ == "__main__":
    main()
