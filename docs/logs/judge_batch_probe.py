"""Per-view cost of Lite0 at 128 px by ONNX Runtime (1 thread per call), two calls side by side, by batch size."""
import sys, time
from concurrent.futures import ThreadPoolExecutor
import numpy as np, torch
from fgclass.models.features import _network, onnx_runtime_session, PACKAGED_LITE0
from fgclass.models.classifier import normalize
side = int(sys.argv[1]) if len(sys.argv) > 1 else 128
model, mean, std = _network(PACKAGED_LITE0)
sizes = [1, 4, 8, 16, 64]
sessions = {}
for b in sizes:
    x = normalize(torch.randint(0, 255, (b, 3, side, side), dtype=torch.uint8), mean, std)
    sessions[b] = (onnx_runtime_session(model, x, threads=1), x)
TOTAL = 512
def run(b):
    path, x = sessions[b]
    calls = TOTAL // b
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: path(x), range(calls)))
    return (time.perf_counter() - start) / (calls * b) * 1e3
for b in sizes: run(b)  # warm-up
res = {b: [] for b in sizes}
for rep in range(3):
    for b in (sizes if rep % 2 == 0 else sizes[::-1]):
        res[b].append(run(b))
for b in sizes:
    print(f"side {side} batch {b:3d} views: {np.median(res[b]):.3f} ms/view (x8 = {8*np.median(res[b]):.1f} ms/img)  {['%.3f' % r for r in res[b]]}", flush=True)
