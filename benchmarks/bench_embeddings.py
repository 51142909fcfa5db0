"""Cost of the embedding judge's pass (``fgclass/data/embeddings.py``: 8 Lite0 views per image) by
how its network runs: NCHW (contiguous), NHWC (``channels_last``), NHWC traced and frozen by
TorchScript (conv + BatchNorm folded), and exported to ONNX and run by ONNX Runtime (what the judge
runs; its one-off export is timed apart). The same images' views go through each, in interleaved
repetitions, so a change in the machine's load hits all alike; the pooled embeddings are compared
with the NCHW ones (max |difference|), and decoding plus the views is timed apart.

Then the judge's whole pass (``_embed``: decoding, views, network), ONNX Runtime either way: one call
at a time on all of torch's threads, against one thread per call with as many calls side by side
(what the judge does); with ``--issue-baseline`` also the judge as issue 36 timed it (commit 80ce484: 16
views at 160 px, eager PyTorch, one image per call), the pass the 3-minute goal is set against.
``--as-png 590x445`` first re-saves the images as PNGs of that size, as the full
fish set's files are, with faint noise (``benchmarks.common.as_png``; PNG decoding is a large share of
its pass).

    python -m benchmarks.bench_embeddings --root ../shared/data/butterfly_full/train --images 64
    python -m benchmarks.bench_embeddings --root ../shared/data/fish --images 96 --as-png 590x445
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import as_png, interleave, machine, paired_ratio, table
from fgclass.data.embeddings import SIDE, _embed, pool_views, views
from fgclass.data.images import load_rgb
from fgclass.data.listing import image_files
from fgclass.models.classifier import normalize
from fgclass.models.features import (
    PACKAGED_LITE0,
    BackboneFeatures,
    _network,
    onnx_runtime_session,
    torchscript_frozen,
)

BATCH = 8  # images per forward pass, as in the judge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="a folder of images")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--as-png", metavar="WxH", help="re-save the images as PNGs of this size first")
    parser.add_argument("--issue-baseline", action="store_true", help="also time issue 36's judge")
    args = parser.parse_args()
    print(machine())
    root, names = args.root, image_files(args.root, args.root)[: args.images]
    if args.as_png:
        root = Path(tempfile.mkdtemp())
        names = as_png(args.root, names, tuple(int(v) for v in args.as_png.split("x")), 1, root)
    paths = [root / name for name in names]
    start = time.perf_counter()
    batches = [
        torch.from_numpy(np.concatenate([views(load_rgb(p)) for p in paths[i : i + BATCH]])).permute(
            0, 3, 1, 2
        )
        for i in range(0, len(paths), BATCH)
    ]
    decode = (time.perf_counter() - start) / len(paths)
    per_image = len(batches[0]) // min(BATCH, len(paths))  # views of one image, as the judge makes them

    net, mean, std = _network(PACKAGED_LITE0)
    net = net.to(memory_format=torch.contiguous_format)
    nhwc = torch.channels_last
    with torch.inference_mode():
        nhwc_net = _network.__wrapped__(PACKAGED_LITE0)[0].to(memory_format=nhwc)
        example = normalize(batches[0], mean, std).contiguous(memory_format=nhwc)
        frozen = torchscript_frozen(net, example)
        start = time.perf_counter()
        onnx = onnx_runtime_session(net, normalize(batches[0], mean, std))  # what the judge runs
        export = time.perf_counter() - start
    forward: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "NCHW (contiguous)": net,
        "NHWC (channels_last)": nhwc_net,
        "NHWC, TorchScript frozen": frozen,
        "ONNX Runtime (the judge)": onnx,
    }
    pooled: dict[str, np.ndarray] = {}

    def run(name: str) -> Callable[[], float]:
        def once() -> float:
            out = []
            start = time.perf_counter()
            with torch.inference_mode():
                for batch in batches:
                    x = normalize(batch, mean, std)
                    if name.startswith("NHWC"):
                        x = x.contiguous(memory_format=nhwc)
                    out.append(pool_views(forward[name](x), len(x) // per_image))
            pooled[name] = torch.cat(out).numpy()
            return time.perf_counter() - start

        return once

    seconds = interleave({name: run(name) for name in forward}, args.reps)
    base = seconds["NCHW (contiguous)"]
    rows = [
        [
            name,
            1000 * statistics.median(s) / len(paths),
            paired_ratio(base, s),
            float(np.abs(pooled[name] - pooled["NCHW (contiguous)"]).max()),
        ]
        for name, s in seconds.items()
    ]
    print(f"{len(paths)} images x {per_image} views at {SIDE} px; decode + views: {1000 * decode:.1f} ms/img")
    print(f"ONNX export and session (once per process): {export:.1f} s")
    print(table(["network", "ms/img (network)", "x faster than NCHW", "max |diff| of embeddings"], rows))
    whole_pass(paths, args.reps, args.issue_baseline)


def issue_baseline(paths: list[Path]) -> np.ndarray:
    """The judge's pass as issue 36 timed it (commit 80ce484): each image's 16 views (8 turns, as is and
    mirrored) at 160 px through eager PyTorch, one image per call on all of torch's threads."""
    net, mean, std = _network(PACKAGED_LITE0)
    out = []
    with torch.inference_mode():
        for path in paths:
            x = torch.from_numpy(views(load_rgb(path), side=160, mirror=True)).permute(0, 3, 1, 2)
            out.append(pool_views(net(normalize(x, mean, std)), 1).numpy())
    return np.concatenate(out)


def whole_pass(paths: list[Path], reps: int, baseline: bool = False) -> None:
    """The judge's pass over ``paths``, one call at a time on all threads against calls side by side (and,
    with ``baseline``, against :func:`issue_baseline`)."""
    threads = torch.get_num_threads()
    names = [str(p.resolve()) for p in paths]
    ways: dict[str, Callable[[], np.ndarray]] = {  # the judge's network is exported in the warm-up
        f"one call at a time, {threads} threads": lambda: _embed(
            Path("/"), names, BackboneFeatures(PACKAGED_LITE0, threads), 1
        ),
        f"{threads} calls side by side, 1 thread each (the judge)": lambda: _embed(
            Path("/"), names, BackboneFeatures(PACKAGED_LITE0), threads
        ),
    }
    same_judge = set(ways)  # embeddings comparable with the first way's
    if baseline:
        ways["issue 36's judge: 16 views at 160 px, eager PyTorch"] = lambda: issue_baseline(paths)
    pooled: dict[str, np.ndarray] = {}

    def run(name: str) -> Callable[[], float]:
        def once() -> float:
            start = time.perf_counter()
            pooled[name] = ways[name]()
            return time.perf_counter() - start

        return once

    seconds = interleave({name: run(name) for name in ways}, reps)
    base, first = next(iter(seconds.values())), next(iter(pooled.values()))
    rows = [
        [
            name,
            1000 * statistics.median(s) / len(paths),
            paired_ratio(base, s),
            float(np.abs(pooled[name] - first).max()) if name in same_judge else float("nan"),
        ]
        for name, s in seconds.items()
    ]
    print(f"\nThe whole pass (decoding, views, network), {len(paths)} images:")
    print(table(["ONNX Runtime", "ms/img", "x faster than one at a time", "max |diff| of embeddings"], rows))


if __name__ == "__main__":
    main()
