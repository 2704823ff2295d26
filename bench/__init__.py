"""Benchmarks run by ``make bench``: this system beside the tutorial's, measured in one run.

Every figure is reported next to a baseline measured in the same process run on the same
machine, because absolute numbers from one laptop mean little while ratios travel. Targets
are reported (PASS/MISS) and never fail the run; the run fails only when something could
not be measured at all. Numbers live here, never in timed tests.

Modules, one per measurement: ``quality``, ``warm``, ``batch``, ``cold``, ``sizes``,
``http_load``, ``training``, ``cost``; ``stats`` and ``table`` are the pure helpers;
``tutorial_handler`` is the original tutorial's Lambda handler rebuilt as the baseline.
"""

__all__: list[str] = []
