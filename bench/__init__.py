"""Benchmarks for Answerable: see bench/README.md. Nothing here is part of the product."""
