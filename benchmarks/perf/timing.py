"""How the figures are measured and shown: medians of repeats, the machine, the load."""

import gc
import os
import platform
import statistics
import time


class Report:
    """Figures in measurement order; printed as they come and written as a markdown table."""

    def __init__(self):
        self.rows = []

    def add(self, section, figure, value, note=""):
        self.rows.append((section, figure, value, note))
        print(f"[{section}] {figure}: {value}" + (f"  ({note})" if note else ""), flush=True)


def timed(fn, repeats=1):
    """``(median wall seconds, median CPU seconds of this process, last result)``."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def load_average():
    """The 1, 5 and 15 minute load averages, ``"1.2/1.5/1.7"``."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_model():
    """The CPU's model name, from ``/proc/cpuinfo`` where there is one."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def simd_extensions():
    """The SIMD extensions numpy found on this CPU (its dispatch targets), comma-separated."""
    import numpy as np

    try:
        found = np.show_config(mode="dicts")["SIMD Extensions"]["found"]
    except Exception:  # (older numpy: no dict mode)
        return "unknown"
    return ", ".join(found) or "none"


def presort_method():
    """The SFit presort's float32 sort this process uses (the faster one, timed once)."""
    try:
        from nt_sklearn._column_sort import _float32_sort_method
    except ImportError:  # a version from before the choice (a --before run)
        return "keys (the only one of this version)"
    return _float32_sort_method()


def set_torch_threads(n):
    """torch's intra-op threads, when torch is installed."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)
