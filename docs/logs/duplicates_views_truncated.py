"""Issue 36 part 1, a first look: the judge's 8 views at 128 px through Lite0 cut after stage 4 or 3
(mean-pooled mid-level features; 1.44x and 2.1x cheaper by a one-thread ONNX Runtime probe) against the
whole network, on the fish sample; embeddings for docs/logs/duplicates_views_analyse.py (fish_r8_128,
fish_t4_128, fish_t3_128, and each centred over the set: ...c)."""

import sys
import time

import numpy as np
import torch
from torch import nn

from fgclass.data.embeddings import views
from fgclass.data.images import load_rgb
from fgclass.data.sources import find_fish_images
from fgclass.models.classifier import normalize
from fgclass.models.features import PACKAGED_LITE0, _network

torch.set_num_threads(2)
model, mean, std = _network(PACKAGED_LITE0)


class Upto(nn.Module):
    """Lite0's stem and its first ``stages`` stages, mean-pooled."""

    def __init__(self, stages: int) -> None:
        super().__init__()
        self.stages = stages

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = model.bn1(model.conv_stem(x))
        for block in model.blocks[: self.stages]:
            x = block(x)
        return x.mean((2, 3))


nets = {"r8_128": model, "t4_128": Upto(5).eval(), "t3_128": Upto(4).eval()}
images = find_fish_images("../shared/data/fish")
rgbs = [load_rgb(images.root / p) for p in images.paths]
for name in sys.argv[1:] or list(nets):
    start, out = time.time(), []
    with torch.inference_mode():
        for i in range(0, len(rgbs), 8):
            v = np.concatenate([views(r) for r in rgbs[i : i + 8]])
            f = nets[name](normalize(torch.from_numpy(v).permute(0, 3, 1, 2), mean, std))
            f = torch.nn.functional.normalize(f, dim=1)
            f = torch.nn.functional.normalize(f.view(len(rgbs[i : i + 8]), -1, f.shape[1]).mean(1), dim=1)
            out.append(f.numpy())
    pooled = np.concatenate(out)
    np.save(f"/tmp/fgclass_views/fish_{name}.npy", pooled)
    centred = pooled - pooled.mean(0)  # mean-pooled activations are all alike: centred over the set ("...c")
    np.save(f"/tmp/fgclass_views/fish_{name}c.npy", centred / np.linalg.norm(centred, axis=1, keepdims=True))
    print(name, f"{(time.time() - start) / len(rgbs) * 1000:.1f} ms/img (eager)", flush=True)
