"""Every benchmark with its defaults, one after the other: ``python -m benchmarks.run_all``
(``make benchmark``). Each prints its table and verdicts; this prints a summary of the verdicts."""

from __future__ import annotations

import contextlib
import io
import sys
import time

from benchmarks import (
    bench_data_pipeline,
    bench_feature_cache,
    bench_loop_overhead,
    bench_memory,
    bench_precision,
)

BENCHMARKS = {
    "loop overhead": bench_loop_overhead,
    "precision and memory format": bench_precision,
    "data pipeline": bench_data_pipeline,
    "frozen-feature caching": bench_feature_cache,
    "memory": bench_memory,
}


class Tee(io.TextIOBase):
    """Writes to the real stdout and keeps a copy."""

    def __init__(self) -> None:
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        sys.__stdout__.write(text)
        return self.copy.write(text)


def main() -> None:
    verdicts = []
    for name, module in BENCHMARKS.items():
        print(f"\n## {name}: python -m {module.__name__}\n", flush=True)
        start = time.perf_counter()
        tee = Tee()
        with contextlib.redirect_stdout(tee):
            module.main([])
        lines = tee.copy.getvalue().splitlines()
        verdicts += [f"{name}: {line}" for line in lines if line.endswith(("PASS", "FAIL"))]
        print(f"({time.perf_counter() - start:.0f} s)")
    print("\n## summary\n" + "\n".join(verdicts))
    sys.exit(any(v.endswith("FAIL") for v in verdicts))


if __name__ == "__main__":
    main()
