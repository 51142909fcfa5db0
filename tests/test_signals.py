"""Ctrl-C and SIGTERM stop a run within moments in every phase, and say how to resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset

from fgclass.app import Stopped, run_task
from fgclass.config import CONF_DIR, compose_config
from fgclass.models import Classifier
from tests.conftest import FAST


@pytest.mark.processes
def test_sigterm_stops_training_and_prints_the_resume_command(fish_root: Path, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "fgclass.train", *FAST, f"data.root={fish_root}", f"paths.log_dir={tmp_path}",
        "trainer.max_epochs=500", "callbacks.early_stopping=null", "data.num_workers=2",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=CONF_DIR.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a scheduler's job
    )
    lines = []
    for line in process.stdout:  # an epoch has finished: last.ckpt exists
        lines.append(line)
        if "Epoch 2/500" in line:  # the first epoch's last.ckpt is written by now
            break
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGTERM)  # as SLURM does: the main process and its loader workers
    output = "".join(lines) + process.communicate(timeout=60)[0]
    assert time.monotonic() - sent < 10, "SIGTERM was not honoured promptly"
    assert process.returncode == 128 + signal.SIGTERM
    (last,) = tmp_path.glob("runs/*/*/checkpoints/last.ckpt")
    assert "Stopped by SIGTERM" in output and "Traceback" not in output
    resume = output.split("Resume it (it carries on in the same folder) with:\n")[1].splitlines()[0].split()
    assert resume[:3] == ["python", "-m", "fgclass.train"] and resume[-1] == f"ckpt_path={last}"
    assert "trainer.max_epochs=500" in resume and "model=tiny" in resume


class _SignalAtBatch(Callback):
    def __init__(self, sig: int) -> None:
        self.sig, self.batches = sig, 0

    def on_predict_batch_start(self, *args: object) -> None:
        self.batches += 1
        if self.batches == 1:
            os.kill(os.getpid(), self.sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_prediction_stops_at_once(tmp_path: Path, sig: int) -> None:
    # Lightning's own SIGTERM flag is never checked by its predict loop (noise and TTA evaluation use it)
    cfg = compose_config("train", FAST, tmp_path)
    model = Classifier(backbone="resnet18", weights=None, num_classes=3)
    images = torch.randint(0, 255, (40, 3, 32, 32), dtype=torch.uint8)
    loader = DataLoader(
        TensorDataset(images, torch.zeros(40, dtype=torch.long), torch.arange(40)), batch_size=4
    )
    stopper = _SignalAtBatch(sig)
    trainer = L.Trainer(accelerator="cpu", callbacks=[stopper], logger=False, enable_progress_bar=False)
    with pytest.raises(Stopped) as stopped:
        run_task(lambda _: trainer.predict(model, loader), cfg, tmp_path / "run")
    assert stopped.value.code == 128 + sig and stopper.batches == 1
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored afterwards
