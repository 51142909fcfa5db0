"""fgclass's tests. Imported before conftest, so torch is not loaded yet here."""

import os

# One thread per test process (subprocesses inherit it): the tensors here are tiny, and with more
# threads than free cores every small op waits for a descheduled thread (10x slower under load).
# It also lets pytest-xdist run one test per core.
os.environ.setdefault("OMP_NUM_THREADS", "1")
