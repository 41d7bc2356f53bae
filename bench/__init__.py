"""The benchmarks (one script per goal, run as `python bench/<name>.py`) and what they share:
where their databases live (`bench._databases`), which hours a run covers (`bench._hours`) and
the line each prints beside its figures (`bench._context`). `bench/smoke.py` runs each at its
smallest size (`make bench-smoke`).

The scripts put the repository root on sys.path and import these as `bench._databases`, …, so
that bench/graphql.py (which drops its own folder from the path to reach graphql-core) can too."""
