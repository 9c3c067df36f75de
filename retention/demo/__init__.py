"""Synthetic demo systems: a CRM and a ticketing database (SQLite) and a media folder.

Everything is derived from a seed and an `as_of` moment, never from the clock,
so the same inputs rebuild byte-identical data.
"""

from retention.demo.build import DemoSummary, build_demo, demo_env

__all__ = ["DemoSummary", "build_demo", "demo_env"]
