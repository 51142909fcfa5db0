# python -m benchmarks.bench_duplicates on the shared 2-core EPYC (CPU seconds, one thread), logged
cd "$(dirname "$0")/../.." && nice -n 19 .venv/bin/python -m benchmarks.bench_duplicates "$@"
