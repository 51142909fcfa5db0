"""What ``test_shards``' DDP test runs: ``python tests/shard_ranks.py PACKED OUT BATCH EPOCHS``, a real
Lightning fit with ``strategy="ddp"`` on two CPU processes (gloo; Lightning starts the second by
running this script again) of ``data=shards`` composed by Hydra. A probe module records the row index
of every training image each rank is given, per epoch, into ``OUT/rank<N>.json``."""

from __future__ import annotations

import faulthandler
import json
import sys
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.strategies import DDPStrategy

from fgclass.config import compose_config


class IndexProbe(L.LightningModule):
    """A linear model on each image's mean colour; records the indices of its training batches."""

    def __init__(self, out: Path) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 16)
        self.out = out
        self.seen: dict[int, list[int]] = {}

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        images, labels, index = batch
        self.seen.setdefault(self.current_epoch, []).extend(index.tolist())
        return torch.nn.functional.cross_entropy(self.layer(images.float().mean((2, 3))), labels)

    def on_train_epoch_end(self) -> None:
        (self.out / f"rank{self.global_rank}.json").write_text(json.dumps(self.seen))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    faulthandler.dump_traceback_later(200)  # a rank still running then prints its stack (the test waits 300)
    packed, out, batch, epochs = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    overrides = ["data=shards", f"data.root={packed}", f"data.batch_size={batch}", "data.num_workers=2"]
    overrides += [
        "model=tiny",
        "data.image_size=32",
        "data.resize_size=36",
        "data.split.embedding_threshold=null",
    ]
    datamodule = instantiate(compose_config("train", overrides, out).data)
    HydraConfig.instance().cfg = None  # else Lightning starts rank 1 as a Hydra app, not as this script
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy=DDPStrategy(timeout=timedelta(seconds=90)),  # a stuck collective raises
        max_epochs=epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(IndexProbe(out), datamodule=datamodule)
