"""Embeddings of the fish + butterfly samples under several view configs; timings per config."""
import time, sys, numpy as np, cv2, torch
from fgclass.data.images import load_rgb
from fgclass.data.sources import find_butterfly_images, find_fish_images
from fgclass.models.features import packaged_lite0_features
torch.set_num_threads(2)
feat = packaged_lite0_features()
def disc_views(rgb, side, angles, mirror):
    h, w = rgb.shape[:2]; s = min(h, w); t, l = (h - s)//2, (w - s)//2
    sq = cv2.resize(rgb[t:t+s, l:l+s], (side, side), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[:side, :side] - (side - 1)/2
    disc = (sq * (xx**2 + yy**2 <= (side/2)**2)[..., None]).astype(np.uint8)
    c = ((side-1)/2, (side-1)/2)
    imgs = (disc, disc[:, ::-1]) if mirror else (disc,)
    return np.stack([cv2.warpAffine(np.ascontiguousarray(im), cv2.getRotationMatrix2D(c, a, 1.0), (side, side)) for im in imgs for a in angles])
CONFIGS = {
  "r8m_160": (160, range(0, 360, 45), True),
  "r0_160": (160, [0], False),
  "r0_224": (224, [0], False),
  "r4m_96": (96, range(0, 360, 90), True),
  "r8m_96": (96, range(0, 360, 45), True),
  "r8_112": (112, range(0, 360, 45), False),
  "r4_128": (128, range(0, 360, 90), False),
  "r8_160": (160, range(0, 360, 45), False),
  "r4m_160": (160, range(0, 360, 90), True),
  "r8m_128": (128, range(0, 360, 45), True),
  "r8_128": (128, range(0, 360, 45), False),
}
which = sys.argv[1:] or list(CONFIGS)
for name, find, root in (("fish", find_fish_images, "../shared/data/fish"), ("butterfly", find_butterfly_images, "../shared/data/butterfly")):
    images = find(root)
    rgbs = [load_rgb(images.root / p) for p in images.paths]
    np.save(f"/tmp/fgclass_views/{name}_labels.npy", np.array(images.labels))
    for cfg in which:
        side, angles, mirror = CONFIGS[cfg]
        t = time.time(); out = []
        with torch.inference_mode():
            for i in range(0, len(rgbs), 8):
                v = np.concatenate([disc_views(r, side, angles, mirror) for r in rgbs[i:i+8]])
                f = torch.nn.functional.normalize(feat(torch.from_numpy(v).permute(0, 3, 1, 2)), dim=1)
                k = len(v) // len(rgbs[i:i+8])
                f = torch.nn.functional.normalize(f.view(-1, k, f.shape[1]).mean(1), dim=1)
                out.append(f.numpy())
        e = np.concatenate(out); np.save(f"/tmp/fgclass_views/{name}_{cfg}.npy", e)
        print(name, cfg, f"{(time.time()-t)/len(rgbs)*1000:.1f} ms/img", flush=True)
