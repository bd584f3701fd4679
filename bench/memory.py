"""Peak memory of a stretch of code.

Two numbers are tracked:

* resident memory (RSS), what ``top`` and Colab's RAM meter show. On Linux its peak is the
  kernel's own high-water mark (``VmHWM``), reset when the measurement starts, so no short-lived
  peak is missed; elsewhere it is sampled;
* anonymous memory (``RssAnon``, sampled every 10 ms), the part no file backs: arrays, lists,
  framework buffers.

Both include the process's children (the package's decoding processes), sampled every 50 ms
and added to the process's own figures: the memory a reader's machine has to hold.
"""

from __future__ import annotations

import threading
import time

__all__ = ["current_memory_mib", "PeakMemory"]


def _status(pid: int | str = "self") -> dict[str, float]:
    values = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "VmHWM"):
                    values[key] = int(rest.split()[0]) / 1024  # kB -> MiB
    except OSError:
        pass
    return values


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux 4.0+); True on success."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _children_mib() -> dict[str, float]:
    """The summed ``rss`` and ``anon`` memory of this process's living children, in MiB."""
    import psutil

    total = {"rss": 0.0, "anon": 0.0}
    for child in psutil.Process().children(recursive=True):
        values = _status(child.pid)
        if "VmRSS" not in values:
            try:
                values = {"VmRSS": child.memory_info().rss / 2**20}
            except psutil.Error:    # it exited meanwhile
                continue
        total["rss"] += values["VmRSS"]
        total["anon"] += values.get("RssAnon", values["VmRSS"])
    return total


def current_memory_mib(children: bool = False) -> dict[str, float]:
    """This process's ``rss`` and ``anon`` (anonymous resident) memory in MiB.

    Args:
        children: Add the memory of the process's living children.
    """
    values = _status()
    if "VmRSS" not in values:  # not Linux: psutil's RSS, no split
        import psutil

        rss = psutil.Process().memory_info().rss / 2**20
        own = {"rss": rss, "anon": rss}
    else:
        own = {"rss": values["VmRSS"], "anon": values.get("RssAnon", values["VmRSS"])}
    if children:
        extra = _children_mib()
        own = {key: own[key] + extra[key] for key in own}
    return own


class PeakMemory:
    """Sample memory every ``interval`` seconds in a daemon thread; keep the maxima.

    Example:
        >>> with PeakMemory() as peak:
        ...     x = bytearray(50 * 2**20)
        >>> peak.peak["anon"] - peak.floor["anon"] > 40
        True
    """

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self._exact = False
        self._children = {"rss": 0.0, "anon": 0.0}
        self._children_at = -1.0
        self.floor = current_memory_mib(children=True)
        self.peak = dict(self.floor)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        now = current_memory_mib()
        # Listing the children scans /proc: every 50 ms, not every sample.
        if time.perf_counter() - self._children_at >= 0.05:
            self._children = _children_mib()
            self._children_at = time.perf_counter()
        now = {key: now[key] + self._children[key] for key in now}
        for key, value in now.items():
            if value > self.peak.get(key, 0.0):
                self.peak[key] = value

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(self.interval)

    def reset(self) -> None:
        """Start a new measurement: the floor and the peak become the current memory."""
        self._exact = _reset_high_water_mark()
        self.floor = current_memory_mib(children=True)
        self.peak = dict(self.floor)

    def __enter__(self) -> "PeakMemory":
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._children_at = -1.0
        self._sample()
        high_water = _status().get("VmHWM")
        if self._exact and high_water is not None:
            self.peak["rss"] = max(self.peak["rss"], high_water)
