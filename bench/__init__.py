"""Benchmarks: the collector's throughput, latency and memory against the limits of its parts."""
