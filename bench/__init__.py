"""Benchmarks of the pipeline (run with `make bench`; see bench/README.md)."""
