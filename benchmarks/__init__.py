"""Benchmarks: ``python -m benchmarks.<name>`` each prints a table and the ratios it checks.

Timings are taken side by side in one process (warm-up first, alternating repetitions, medians),
so machine noise cancels in the ratios; absolute numbers are only comparable within one run.
Results and the commands that produced them are in ``benchmarks/RESULTS.md``.
"""
