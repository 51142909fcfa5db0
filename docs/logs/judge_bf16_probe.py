# Issue 36 part 1: the judge's network (16 views, 160 px, 48 butterfly images) by ONNX Runtime fp32 against bf16 paths on
# the AMX Xeon: ms per image, and how far the pooled embeddings and their pair similarities move. Run from the
# repository root: flock /tmp/fgclass_cpu.lock .venv/bin/python -W ignore docs/logs/judge_bf16_probe.py compile
import time, statistics, sys, copy, warnings
import numpy as np, torch, torch.nn.functional as F
from fgclass.data.embeddings import views
from fgclass.data.images import load_rgb
from fgclass.data.listing import image_files
from fgclass.models.classifier import normalize
from fgclass.models.features import PACKAGED_LITE0, _network, onnx_runtime_session, torchscript_frozen
from pathlib import Path
root = Path("../shared/data/butterfly_full/train")
paths = [root / p for p in image_files(root, root)[:48]]
t=time.perf_counter()
batches = [torch.from_numpy(np.concatenate([views(load_rgb(p), side=160, mirror=True) for p in paths[i:i+8]])).permute(0,3,1,2) for i in range(0,len(paths),8)]
print("decode+views ms/img", 1000*(time.perf_counter()-t)/len(paths), flush=True)
net, mean, std = _network(PACKAGED_LITE0)
net = net.to(memory_format=torch.contiguous_format)
nhwc = torch.channels_last
x0 = normalize(batches[0], mean, std)
paths_ = {}
with torch.inference_mode():
    t=time.perf_counter(); ort = onnx_runtime_session(net, x0); print("ort export", time.perf_counter()-t, flush=True)
    paths_["ort fp32"] = ort
    n2 = copy.deepcopy(net).to(memory_format=nhwc)
    def ac(x):
        with torch.autocast("cpu", torch.bfloat16):
            return n2(x.contiguous(memory_format=nhwc))
    paths_["eager autocast bf16 nhwc"] = ac
    nb = copy.deepcopy(net).to(torch.bfloat16).to(memory_format=nhwc)
    paths_["eager bf16 weights nhwc"] = lambda x: nb(x.to(torch.bfloat16).contiguous(memory_format=nhwc))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fb = torch.jit.freeze(torch.jit.trace(nb, x0.to(torch.bfloat16).contiguous(memory_format=nhwc)))
    paths_["torchscript bf16"] = lambda x: fb(x.to(torch.bfloat16).contiguous(memory_format=nhwc))
    paths_["torchscript fp32"] = torchscript_frozen(net, x0)
if "compile" in sys.argv:
    import torch._inductor.config as ic
    ic.freezing = True
    with torch.no_grad():
        cb = torch.compile(copy.deepcopy(net).to(memory_format=nhwc))
        t=time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16):
            cb(x0.contiguous(memory_format=nhwc))
        print("compile bf16", time.perf_counter()-t, flush=True)
        def cbf(x):
            with torch.autocast("cpu", torch.bfloat16):
                return cb(x.contiguous(memory_format=nhwc))
        paths_["inductor bf16"] = cbf
ref = None
res = {}
for name, f in paths_.items():
    ctx = torch.no_grad() if "inductor" in name else torch.inference_mode()
    with ctx:
        f(x0)
        times = []
        for rep in range(2):
            out = []
            t = time.perf_counter()
            for b in batches:
                e = F.normalize(f(normalize(b, mean, std)).float(), dim=1)
                out.append(F.normalize(e.view(-1,16,e.shape[1]).mean(1), dim=1))
            times.append(time.perf_counter()-t)
        E = torch.cat(out).numpy()
    res[name] = E
    if ref is None: ref = E
    cos = (E*ref).sum(1)
    S, R = E@E.T, ref@ref.T
    print(f"{name:28s} {1000*min(times)/len(paths):7.1f} ms/img  min cos to ort {cos.min():.5f}  max |pair sim diff| {np.abs(S-R).max():.4f}", flush=True)
