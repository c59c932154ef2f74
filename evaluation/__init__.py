"""Benchmarks of the whole pipeline: they depend on retrieval and serving and nothing depends on them,
so they get their own home rather than living inside either."""
