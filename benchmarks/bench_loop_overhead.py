"""Loop overhead: fgclass's Lightning training step against a minimal hand-written PyTorch loop.

    python -m benchmarks.bench_loop_overhead [--backbone resnet50 --batch-size 16 --chunk 1]

Lightning side: the configured Trainer (default precision, callbacks, TensorBoard logging), the
Classifier and, for head-only, the Finetuning callback, fitting on one in-memory batch served
repeatedly. Hand-written side: forward, loss, backward and optimizer step on the same model, batch,
precision and memory format. The two alternate inside one fit: after every ``chunk`` Lightning
iterations a callback runs ``chunk`` hand-written steps. A Lightning iteration is timed from one
batch end to the next, less the hand-written chunk, so it includes everything Lightning does per
step (data fetch, hooks, logging, progress bar). Ratio = median over chunk pairs of
(hand-written time / Lightning time), i.e. Lightning's throughput as a share of the hand loop's;
the ratio of total times is printed too (it counts costs that only some steps pay, like logging
every 10 steps, but also any stall of the shared machine).
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate

from benchmarks.common import (
    PlainStep,
    Repeat,
    machine,
    paired_ratio,
    quiet_lightning,
    random_batch,
    step_args,
    sync,
    table,
    verdict,
)
from fgclass.app import instantiate_dict
from fgclass.config import compose_config

NUM_CLASSES = 75
GOAL = 0.95


class Alternate(L.Callback):
    """Times Lightning iterations in chunks; after each chunk, times as many hand-written steps."""

    def __init__(self, batch: tuple[torch.Tensor, ...], chunk: int) -> None:
        self.batch = batch
        self.chunk = chunk
        self.lightning: list[float] = []
        self.plain: list[float] = []
        self._since: float | None = None
        self._elapsed = 0.0
        self._count = 0
        self._plain: PlainStep | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after the Finetuning callback froze the backbone: the same param groups as Lightning's
        self._plain = PlainStep(pl_module, str(trainer.precision), pl_module.device)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        sync(pl_module.device)
        now = time.perf_counter()
        if self._since is not None:
            self._elapsed += now - self._since
            self._count += 1
        if self._count == self.chunk:
            self.lightning.append(self._elapsed)
            self._elapsed, self._count = 0.0, 0
            pl_module.zero_grad(set_to_none=True)
            self.plain.append(self._plain.seconds(itertools.repeat(self.batch, self.chunk)))
        self._since = time.perf_counter()


def run(mode: str, args: Any, output_dir: str) -> tuple[Alternate, str]:
    """One fit of ``(warmup + pairs) * chunk`` steps; the first ``warmup`` pairs are not counted."""
    cfg = compose_config(
        "train",
        [f"model={args.backbone}", "model.weights=null", f"finetune={mode}", "logger=tensorboard"],
        output_dir,
    )
    torch.manual_seed(0)
    model = instantiate(cfg.model, num_classes=NUM_CLASSES)
    batch = random_batch(args.batch_size, args.image_size, NUM_CLASSES)
    alternate = Alternate(batch, args.chunk)
    callbacks = instantiate_dict(cfg.callbacks)
    if cfg.finetune.callback:
        callbacks.append(instantiate(cfg.finetune.callback))
    trainer = instantiate(
        cfg.trainer,
        callbacks=[*callbacks, alternate],
        logger=instantiate_dict(cfg.logger),
        max_epochs=1,
        enable_model_summary=False,  # printed before timing starts: only clutter
    )
    steps = (args.warmup + args.pairs[mode]) * args.chunk + 1
    trainer.fit(model, train_dataloaders=Repeat(batch, steps), val_dataloaders=Repeat(batch, 1))
    return alternate, str(trainer.precision)


def main(argv: list[str] | None = None) -> None:
    parser = step_args(__doc__.splitlines()[0])
    parser.add_argument("--chunk", type=int, default=1, help="steps per side before switching")
    parser.add_argument("--head-pairs", type=int, default=30, help="timed chunk pairs, head-only")
    parser.add_argument("--full-pairs", type=int, default=12, help="timed chunk pairs, full fine-tuning")
    parser.add_argument("--warmup", type=int, default=3, help="chunk pairs not counted")
    parser.add_argument("--modes", nargs="+", default=["head_only", "full"], choices=["head_only", "full"])
    args = parser.parse_args(argv)
    args.pairs = {"head_only": args.head_pairs, "full": args.full_pairs}
    quiet_lightning()
    print(machine())
    rows, verdicts = [], []
    for mode in args.modes:
        with tempfile.TemporaryDirectory() as tmp:
            result, precision = run(mode, args, tmp)
        lightning, plain = result.lightning[args.warmup :], result.plain[args.warmup :]
        images = args.chunk * args.batch_size
        ratio = paired_ratio(plain, lightning)  # times: hand-written / Lightning = Lightning's speed share
        rows.append(
            [
                mode,
                precision,
                len(lightning),
                images / statistics.median(lightning),
                images / statistics.median(plain),
                ratio,
                sum(plain) / sum(lightning),
            ]
        )
        verdicts.append(verdict(f"{mode}: Lightning / hand-written", ratio, GOAL))
    print(f"{args.backbone}, batch {args.batch_size}, {args.image_size} px, {args.chunk}-step chunks")
    headers = ["mode", "precision", "pairs", "Lightning img/s", "hand-written img/s", "ratio", "of totals"]
    print(table(headers, rows))
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
