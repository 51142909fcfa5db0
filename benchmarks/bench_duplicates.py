"""Near-duplicate pair search: the brute force against fgclass's FAISS search, on generated data.

    python -m benchmarks.bench_duplicates                       # N = 10k, 50k, 100k
    python -m benchmarks.bench_duplicates --sizes 2000 10000 --sample-rows 0   # full brute force

Hashes: ``(N, 12, 4)`` uint64, the 8 flip/rotation and 4 upright-disc hashes of the scan, drawn
uniformly at random (the hardest case for an inverted file: no structure to cluster), with 10 % of
the images planted as copies of another (its variants shuffled, up to 40 bits flipped).
Embeddings: ``(N, 1280)`` unit vectors around 1,000 class centres (cosine ~0.8 within a class), with
10 % planted copies (cosine >= 0.94 to their source).

The brute force is the search fgclass used before FAISS (every hash against every variant of every
later image, numpy; every embedding against all, one matrix product per block of rows). At the
larger sizes it runs on ``--sample-rows`` rows spread over the set and its time is scaled to all
rows (its cost per row is exactly proportional to the columns it scans); recall is the share of
the brute-force pairs of those rows that FAISS finds, and "beyond" counts FAISS pairs outside the
threshold (0 by construction: each is checked by its exact distance). Times are CPU seconds of this
process (``time.process_time``; FAISS's also as wall-clock seconds, which count with ``--threads 0``,
all cores) on one thread (``--threads``), so that a machine shared with other
work still gives comparable figures.
"""

from __future__ import annotations

import argparse
import math
import time

import faiss
import numpy as np
import torch

from benchmarks.common import memory_mb, reset_peak
from fgclass.data import duplicates, embeddings
from fgclass.data.duplicates import DEFAULT_THRESHOLD, near_duplicate_pairs
from fgclass.data.embeddings import similar_pairs
from fgclass.data.scan import DIHEDRAL
from fgclass.provenance import cpu_name
from fgclass.text import markdown_table

COSINE = 0.94
_BLOCK = 64


def planted_hashes(n: int, rng: np.random.Generator, planted: list | None = None) -> np.ndarray:
    """Random hashes with 10 % planted copies; each ``(copy, source)`` is appended to ``planted``."""
    hashes = rng.integers(0, 2**64, (n, 12, 4), dtype=np.uint64)
    copies = rng.choice(n, n // 10, replace=False)
    for target in copies.tolist():
        source = int(rng.integers(n))
        if source == target:
            continue
        if planted is not None:
            planted.append((target, source))
        hashes[target, :DIHEDRAL] = hashes[source, rng.permutation(DIHEDRAL)]
        hashes[target, DIHEDRAL:] = hashes[source, DIHEDRAL + rng.permutation(4)]
        for bit in rng.choice(256, int(rng.integers(0, DEFAULT_THRESHOLD + 1)), replace=False).tolist():
            hashes[target, :, bit // 64] ^= np.uint64(1 << (bit % 64))
    return hashes


def planted_embeddings(n: int, rng: np.random.Generator, dim: int = 1280) -> np.ndarray:
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    vectors = centres[rng.integers(1000, size=n)] + 0.5 * rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    copies = rng.choice(n, n // 10, replace=False)
    noise = rng.normal(size=(len(copies), dim)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    vectors[copies] = vectors[rng.integers(n, size=len(copies))] + 0.15 * noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _sample_starts(n: int, rows: int) -> list[int]:
    starts = list(range(0, n, _BLOCK))
    if rows <= 0 or rows >= n:
        return starts
    step = max(1, len(starts) // max(1, rows // _BLOCK))
    return starts[::step]


def _closest(rows: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Bits between each row hash ``(R, words)`` and the closest variant of each other image
    ``(words, N, variants)``: the brute force fgclass used before FAISS."""
    distance = np.zeros((len(rows), others.shape[1], others.shape[2]), dtype=np.uint16)
    for word in range(len(others)):
        distance += np.bitwise_count(rows[:, word, None, None] ^ others[word])
    return distance.min(axis=2)


def brute_hash_pairs(hashes: np.ndarray, rows: int) -> tuple[set, float]:
    """Pairs of the sampled rows (each against all later images) and the time scaled to all rows."""
    n, found, spent, scanned = len(hashes), set(), 0.0, 0
    by_word = np.ascontiguousarray(hashes.transpose(2, 0, 1))
    for start in _sample_starts(n, rows):
        begin = time.process_time()
        block = hashes[start : start + _BLOCK]
        distance = _closest(block[:, 0], by_word[:, start:, :DIHEDRAL])
        distance = np.minimum(distance, _closest(block[:, DIHEDRAL], by_word[:, start:, DIHEDRAL:]))
        i, j = np.nonzero(distance <= DEFAULT_THRESHOLD)
        found |= {(start + a, start + b) for a, b in zip(i.tolist(), j.tolist()) if b > a}
        spent += time.process_time() - begin
        scanned += len(block) * (n - start)
    return found, spent * (n * (n + 1) / 2) / scanned


def brute_embedding_pairs(vectors: np.ndarray, rows: int) -> tuple[set, float]:
    n, found, spent, scanned = len(vectors), set(), 0.0, 0
    for start in _sample_starts(n, rows):
        begin = time.process_time()
        similarity = vectors[start : start + _BLOCK] @ vectors.T
        i, j = np.nonzero(similarity >= COSINE)
        i += start
        found |= {(int(a), int(b)) for a, b in zip(i, j) if a < b}
        spent += time.process_time() - begin
        scanned += min(_BLOCK, n - start)
    return found, spent * n / scanned


def measure(kind: str, n: int, rows: int, rng: np.random.Generator) -> dict:
    if kind == "hashes":
        data = planted_hashes(n, rng)
        before, begin, wall = reset_peak(), time.process_time(), time.perf_counter()
        pairs = near_duplicate_pairs(data, DEFAULT_THRESHOLD)
        seconds, wall = time.process_time() - begin, time.perf_counter() - wall
        peak = memory_mb()["peak"] - before
        reference, brute = brute_hash_pairs(data, rows)
        beyond = sum(d > DEFAULT_THRESHOLD for _, _, d in pairs)
    else:
        data = planted_embeddings(n, rng)
        before, begin, wall = reset_peak(), time.process_time(), time.perf_counter()
        pairs = similar_pairs(data, COSINE)
        seconds, wall = time.process_time() - begin, time.perf_counter() - wall
        peak = memory_mb()["peak"] - before
        reference, brute = brute_embedding_pairs(data, rows)
        beyond = sum(float(data[i] @ data[j]) < COSINE for i, j, _ in pairs)
    sampled = {i for start in _sample_starts(n, rows) for i in range(start, min(start + _BLOCK, n))}
    mine = {(i, j) for i, j, _ in pairs if i in sampled}
    recall = len(mine & reference) / max(1, len(reference))
    return {
        "kind": kind,
        "n": n,
        "brute": brute,
        "faiss": seconds,
        "wall": wall,
        "peak": peak,
        "recall": recall,
        "beyond": beyond,
        "pairs": len(reference),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument("--sample-rows", type=int, default=4096, help="brute-force rows above 10k (0: all)")
    parser.add_argument("--kinds", nargs="+", default=["hashes", "embeddings"])
    parser.add_argument("--threads", type=int, default=1, help="FAISS threads (0: its default)")
    parser.add_argument(
        "--probes", type=int, help=f"inverted lists probed per hash query (default {duplicates.PROBES})"
    )
    args = parser.parse_args()
    if args.probes:
        duplicates.PROBES = args.probes  # read by binary_index at every call
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    threads = faiss.omp_get_max_threads()
    print(
        f"{cpu_name()}; faiss {faiss.__version__}, {threads} threads, "
        f"{duplicates.PROBES} probes per hash query, {embeddings.PROBES} per embedding query"
    )
    rows = []
    for kind in args.kinds:
        previous = None
        for n in args.sizes:
            result = measure(kind, n, args.sample_rows if n > 10_000 else 0, np.random.default_rng(n))
            growth = (
                ""
                if previous is None
                else "{:.2f} / {:.2f}".format(
                    *(
                        math.log(result[k] / previous[k]) / math.log(n / previous["n"])
                        for k in ("brute", "faiss")
                    )
                )
            )
            rows.append(
                [
                    kind,
                    f"{n:,}",
                    f"{result['brute']:.1f}",
                    f"{result['faiss']:.2f}",
                    f"{result['wall']:.2f}",
                    f"{result['brute'] / result['faiss']:.1f}x",
                    f"{result['peak']:,.0f}",
                    growth,
                    f"{100 * result['recall']:.2f} % of {result['pairs']:,}",
                    result["beyond"],
                ]
            )
            print(" | ".join(map(str, rows[-1])), flush=True)
            previous = result
    print(
        "\n".join(
            markdown_table(
                [
                    "data",
                    "N",
                    "brute force CPU s",
                    "FAISS CPU s",
                    "FAISS wall s",
                    "speed-up",
                    "FAISS peak MiB",
                    "growth exponent brute / FAISS",
                    "recall (brute-force pairs of the sampled rows)",
                    "pairs beyond threshold",
                ],
                rows,
            )
        )
    )


if __name__ == "__main__":
    main()
