"""Benchmarks: index build, query latency (direct and over HTTP), index types at scale, and the LangChain recipe.

Every figure is measured in the same run as what it is compared with, and reported as a ratio or a
distribution. `rag bench --quick` runs a small version that the test suite calls so the code cannot rot.
"""
