"""This process's peak resident set size, in MB.

`getrusage`'s ru_maxrss survives fork and exec on Linux: a bench's child
process started by a parent that had grown to 200 MB reports 200 MB however
little it used. The kernel's VmHWM belongs to the process's own memory map,
which exec replaces, so it is read first.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
