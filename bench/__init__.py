"""Benchmarks (DESIGN §14): each prints its figure beside a baseline measured in the same run."""
