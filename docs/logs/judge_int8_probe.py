"""Speed of Lite0 at 128 px in int8 (ORT static quantization) vs fp32, two 1-thread calls side by side."""
import sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np, torch, onnxruntime as ort
from onnxruntime.quantization import quantize_static, CalibrationDataReader, QuantFormat, QuantType
from fgclass.models.features import _network, onnx_program, PACKAGED_LITE0
from fgclass.models.classifier import normalize
from fgclass.data.embeddings import views
from fgclass.data.images import load_rgb
model, mean, std = _network(PACKAGED_LITE0)
root = Path("../shared/data/butterfly_full/train")
files = sorted(root.iterdir())[:48]
batches = [normalize(torch.from_numpy(np.stack([v for f in files[i:i+1] for v in views(load_rgb(f))])).permute(0, 3, 1, 2), mean, std) for i in range(48)]
x = batches[0]
fp32_path = "/tmp/lite0_128.onnx"
Path(fp32_path).write_bytes(onnx_program(model, x, False).model_proto.SerializeToString())
name = ort.InferenceSession(fp32_path).get_inputs()[0].name
class Reader(CalibrationDataReader):
    def __init__(self): self.it = iter(batches[:24])
    def get_next(self):
        b = next(self.it, None); return None if b is None else {name: b.numpy()}
variants = {"fp32": fp32_path}
for tag, fmt, wt in [("qop_u8u8", QuantFormat.QOperator, QuantType.QUInt8), ("qdq_u8s8", QuantFormat.QDQ, QuantType.QInt8)]:
    out = f"/tmp/lite0_128_{tag}.onnx"
    quantize_static(fp32_path, out, Reader(), quant_format=fmt, activation_type=QuantType.QUInt8, weight_type=wt, per_channel=True)
    variants[tag] = out
def session(path):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
sessions = {k: session(v) for k, v in variants.items()}
test = [b.numpy() for b in batches[24:]]
outs = {k: np.concatenate([s.run(None, {name: b})[0] for b in test]) for k, s in sessions.items()}
def pooled(f):
    f = f / np.linalg.norm(f, axis=1, keepdims=True); p = f.reshape(-1, 8, f.shape[1]).mean(1); return p / np.linalg.norm(p, axis=1, keepdims=True)
ref = pooled(outs["fp32"])
for k in outs:
    p = pooled(outs[k]); sim_ref = ref @ ref.T; sim = p @ p.T
    print(k, "cos to fp32 pooled: min %.4f" % (p * ref).sum(1).min(), " max |pair sim diff| %.4f" % np.abs(sim - sim_ref).max())
def run(k):
    s = sessions[k]; start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool: list(pool.map(lambda b: s.run(None, {name: b}), test * 4))
    return (time.perf_counter() - start) / (len(test) * 4 * 8) * 1e3
for k in sessions: run(k)
res = {k: [] for k in sessions}
for rep in range(3):
    for k in (list(sessions) if rep % 2 == 0 else list(sessions)[::-1]): res[k].append(run(k))
for k, v in res.items(): print(k, "%.3f ms/view" % np.median(v), ["%.3f" % t for t in v], "ratio fp32/this %.2f" % (np.median(res["fp32"]) / np.median(v)))
