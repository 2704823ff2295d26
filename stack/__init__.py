"""Local and AWS stack orchestration shared by the demo, the tests and the benchmarks."""
