"""Benchmarks, run as scripts (see each one's docstring); a package so they can share helpers."""
