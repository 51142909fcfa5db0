"""The format choice for the scan cache (docs/results.md, "Scan cache at a million files"): N generated
records (path, size, mtime, width, height, 16-byte digest, 12 x 4 uint64 hashes) saved and loaded as
.npz columns, a sqlite3 table and the old JSON document, one after the other in one process.

    flock /tmp/fgclass_cpu.lock nice -n 10 /usr/bin/time -v .venv/bin/python docs/logs/scan_cache_formats.py 1000000
"""
import io, json, os, sqlite3, sys, time
import numpy as np
N = int(sys.argv[1])
rng = np.random.default_rng(0)
paths = [f"train/class_{i % 10000:05d}/image_{i:07d}.jpg" for i in range(N)]
keys = np.stack([rng.integers(1000, 10**6, N), rng.integers(10**18, 2 * 10**18, N)], 1).astype(np.int64)
wh = rng.integers(16, 4000, (N, 2)).astype(np.int32)
digest = rng.integers(0, 256, (N, 16), dtype=np.uint8)
hashes = rng.integers(0, 2**63, (N, 12, 4), dtype=np.uint64)
d = "/tmp/sc"
def t(f):
    s = time.perf_counter(); r = f(); return time.perf_counter() - s, r
# npz
def npz_save():
    buf = io.BytesIO()
    np.savez(buf, version=np.int64(4), paths=np.frombuffer("\0".join(paths).encode(), np.uint8), keys=keys, wh=wh, digest=digest, hashes=hashes)
    open(f"{d}/c.npz", "wb").write(buf.getvalue())
def npz_load():
    with np.load(f"{d}/c.npz") as z:
        p = z["paths"].tobytes().decode().split("\0"); k = z["keys"]; w = z["wh"]; g = z["digest"]; h = z["hashes"]
    index = dict(zip(p, range(len(p))))
    return index, k, h
def sql_save():
    if os.path.exists(f"{d}/c.db"): os.remove(f"{d}/c.db")
    con = sqlite3.connect(f"{d}/c.db")
    con.execute("create table f(path text primary key, size int, mtime int, w int, h int, digest blob, hashes blob, error text) without rowid")
    hb = hashes.astype(">u8").reshape(N, -1).view(np.uint8).reshape(N, -1)
    con.executemany("insert into f values (?,?,?,?,?,?,?,?)", ((p, int(k[0]), int(k[1]), int(a[0]), int(a[1]), g.tobytes(), hh.tobytes(), None) for p, k, a, g, hh in zip(paths, keys, wh, digest, hb)))
    con.commit(); con.close()
def sql_load():
    con = sqlite3.connect(f"{d}/c.db")
    rows = con.execute("select path, size, mtime, w, h, digest, hashes, error from f").fetchall()
    con.close()
    return {r[0]: r for r in rows}
def json_save():
    cache = {p: {"key": [int(k[0]), int(k[1])], "record": {"width": int(a[0]), "height": int(a[1]), "digest": g.tobytes().hex(), "hashes": hh.astype(">u8").tobytes().hex(), "error": None}} for p, k, a, g, hh in zip(paths, keys, wh, digest, hashes)}
    s = time.perf_counter()
    open(f"{d}/c.json", "w").write(json.dumps({"version": 3, "files": cache}))
    return time.perf_counter() - s
def json_load():
    return json.loads(open(f"{d}/c.json").read())["files"]
for name, save, load in [("npz", npz_save, npz_load), ("sqlite", sql_save, sql_load), ("json", json_save, json_load)]:
    ts, _ = t(save); tl, r = t(load)
    f = {"npz": "c.npz", "sqlite": "c.db", "json": "c.json"}[name]
    print(f"{name:7s} save {ts:6.2f}s load {tl:6.2f}s size {os.path.getsize(f'{d}/{f}')/1e6:.0f} MB", flush=True)
    del r
