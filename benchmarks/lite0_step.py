"""Training-step and inference throughput of EfficientNet-Lite0 (packaged ImageNet weights) on this
machine, by image size and by how many backbone stages train (fp32, batch 32, best of 3 steps):

    python -m benchmarks.lite0_step --sizes 224 160 --top-stages 8 3 2

Source of the step speeds behind ``data.train_image_size`` in docs/results.md.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from fgclass.models import Classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 160])
    parser.add_argument("--top-stages", type=int, nargs="+", default=[8, 3, 2], help="stages that train")
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    model = Classifier(75, backbone="timm/efficientnet_lite0", weights="DEFAULT", channels_last=False)
    stages = list(model.stages)
    print("| image size | what trains | img/s |\n| --- | --- | --- |")
    for size in args.sizes:
        x = torch.randint(0, 256, (args.batch, 3, size, size), dtype=torch.uint8)
        y = torch.randint(0, 75, (args.batch,))
        for k in args.top_stages:
            for stage, params in model.stage_parameters().items():
                for p in params:
                    p.requires_grad = stage in stages[len(stages) - k :]
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 1e-4)
            model.train()
            times = []
            for _ in range(3):
                start = time.perf_counter()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
                optimizer.zero_grad()
                times.append(time.perf_counter() - start)
            print(
                f"| {size} | top {k} of {len(stages)} stages + head | {args.batch / min(times):.1f} |",
                flush=True,
            )
        model.eval()
        with torch.no_grad():
            start = time.perf_counter()
            model(x)
        print(f"| {size} | inference | {args.batch / (time.perf_counter() - start):.1f} |", flush=True)


if __name__ == "__main__":
    main()
