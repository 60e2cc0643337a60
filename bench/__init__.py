"""The project's benchmarks: `python -m bench` runs them all and prints one table (bench/__main__.py).

Not tests: nothing here asserts; figures are judged against the issues' targets in the report.
"""
