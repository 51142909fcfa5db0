"""The frozen backbone's feature pass (the warm start's and ``cache_features``'s, ``backbone_features``):
the classifier's backbone run eagerly, as before, against the TorchScript-frozen copy it runs now
(``fgclass.models.features.fast_inference``) and against ONNX Runtime (what the embedding judge runs;
its one-off export timed apart), on the same batches of real training crops, in interleaved
repetitions. Reading and augmenting the batches is timed apart (the loader, all cases). The ratios
are speed-ups: ``frozen / eager`` is how many times faster the frozen copy runs than eager.

    python -m benchmarks.bench_feature_pass --root ../shared/data/butterfly_full --images 320
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra.utils import instantiate
from torch.utils.data import Subset

from benchmarks.common import checkout_cache, interleave, machine, paired_ratio, table
from fgclass.config import compose_config
from fgclass.models.features import fast_inference, onnx_runtime_session


def measure(name: str, args: argparse.Namespace) -> list[object]:
    """One table row: the loader's and both networks' ms per image, the ratio, the largest difference."""
    overrides = [f"experiment={args.experiment}", f"model={name}", f"data.root={args.root}", checkout_cache()]
    cfg = compose_config("train", overrides, tempfile.mkdtemp())
    images = instantiate(cfg.data)
    images.setup("fit")
    model = instantiate(cfg.model, num_classes=images.num_classes).eval()
    start = time.perf_counter()
    subset = Subset(images.datasets["train"], range(args.images))
    with torch.inference_mode():
        batches = [model.normalize(batch) for batch, _, _ in images.eval_loader(subset)]
        loader_ms = 1000 * (time.perf_counter() - start) / args.images
        frozen = fast_inference(model.backbone, batches[0])
        start = time.perf_counter()
        onnx = onnx_runtime_session(model.backbone, batches[0])  # what the judge takes, for comparison
        export = time.perf_counter() - start
    nets: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "eager": model.backbone,
        "frozen": frozen,
        "onnx": onnx,
    }
    outputs: dict[str, torch.Tensor] = {}

    def run(net: str) -> Callable[[], float]:
        def once() -> float:
            start = time.perf_counter()
            with torch.inference_mode():
                outputs[net] = torch.cat([nets[net](x) for x in batches])
            return time.perf_counter() - start

        return once

    seconds = interleave({net: run(net) for net in nets}, args.reps)
    return [
        f"{name}, {batches[0].shape[-1]} px, batch {len(batches[0])}",
        loader_ms,
        *(1000 * statistics.median(seconds[net]) / args.images for net in nets),
        paired_ratio(seconds["eager"], seconds["frozen"]),
        paired_ratio(seconds["frozen"], seconds["onnx"]),
        export,
        max(float((outputs["eager"] - outputs[net]).abs().max()) for net in ("frozen", "onnx")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, required=True, help="the butterfly set (Training_set.csv, train/)"
    )
    parser.add_argument("--experiment", default="butterfly_fast")
    parser.add_argument("--models", nargs="+", default=["efficientnet_lite0"])
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    rows = [measure(name, args) for name in args.models]
    print(
        f"{args.images} training crops ({args.experiment}, {args.root}), {args.reps} interleaved repetitions"
    )
    headers = ["backbone", "loader ms/img", "eager ms/img", "frozen ms/img", "ONNX Runtime ms/img"]
    headers += ["frozen / eager", "ONNX Runtime / frozen", "ONNX export s", "max |diff|"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
