"""Flat memory: RSS after the last of 6 epochs is within 10 % of RSS after epoch 2 (issue 12)."""

import json
import subprocess
import sys
import time

import pytest
import yaml

from openfwi_files import write_openfwi_files


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_rss_stays_flat_over_epochs(tmp_path):
    # 4 training files of 48 samples (270 MB of seismic): a pipeline kept alive per epoch, as before
    # the fix, grew RSS by about that much every epoch.
    lines = write_openfwi_files(tmp_path, files=5, per_file=48)
    (tmp_path / "train.txt").write_text("\n".join(lines[:4]) + "\n")
    (tmp_path / "val.txt").write_text(lines[4] + "\n")
    config = {"name": "memory", "model": {"options": {"widths": [4, 4, 8, 8, 16]}},
              "data": {"train": str(tmp_path / "train.txt"), "val": str(tmp_path / "val.txt")},
              "optimizer": {"learning_rate": 1e-3},
              "training": {"precision": "float32",
                           "epochs": 6, "batch_size": 16, "jit_compile": True, "figure_samples": 0}}
    (tmp_path / "memory.yaml").write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-m", "keras_fwi", "train", "--config", str(tmp_path / "memory.yaml"),
                              "--run-dir", str(run), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
    state, rss, deadline = run / "backup" / "state.json", {}, time.monotonic() + 1800
    while child.poll() is None and time.monotonic() < deadline:
        try:
            epoch = json.loads(state.read_text())["epoch"] if state.is_file() else 0
            if epoch and epoch not in rss:
                rss[epoch] = _rss_mb(child.pid)
        except (ValueError, OSError):  # state.json being replaced, or the child just exited
            pass
        time.sleep(0.05)
    output = child.communicate(timeout=60)[0]
    assert child.returncode == 0, output[-3000:]
    assert {2, 6} <= set(rss), rss
    assert rss[6] <= 1.10 * rss[2], f"RSS (MB) by epoch: {rss}"
