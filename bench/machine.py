"""What a measurement was made on: numbers mean little without the machine they came from.

Nothing here imports TensorFlow unless the TensorFlow backend is the active one, so the GPU
check can use it on a machine without TensorFlow.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from importlib import metadata
from typing import Any

__all__ = ["describe_machine", "cpu_model", "gpu_names", "machine_line"]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cores() -> int:
    # The cores this process may run on (a container may see fewer than the host has).
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _ram_gib() -> float:
    import psutil

    return round(psutil.virtual_memory().total / 2**30, 1)


def gpu_names(backend: str | None = None) -> list[str]:
    """Names of the GPUs the Keras backend ``backend`` sees (imports only that framework)."""
    backend = backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if backend == "jax":
            import jax

            return [getattr(d, "device_kind", str(d)) for d in jax.devices()
                    if d.platform == "gpu"]
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # a broken CUDA install must not stop a CPU benchmark
        return []
    return []


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_machine(backend: str | None = None) -> dict[str, Any]:
    """A dictionary naming the machine, the software and the time of a measurement.

    Args:
        backend: The Keras backend measured (default ``$KERAS_BACKEND`` or ``tensorflow``).

    Returns:
        ``cpu``, ``cores``, ``ram_gib``, ``gpus``, ``backend``, ``python``, ``platform``,
        ``versions`` (keras and the installed frameworks) and ``date`` (UTC, ISO 8601).
    """
    backend = backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    frameworks = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jax",),
                  "torch": ("torch",)}[backend] if backend in ("tensorflow", "jax", "torch") else ()
    versions = {"keras": _version("keras"), "numpy": _version("numpy")}
    for name in frameworks:
        if _version(name):
            versions[name] = _version(name)
    return {
        "cpu": cpu_model(),
        "cores": _cores(),
        "ram_gib": _ram_gib(),
        "gpus": gpu_names(backend),
        "backend": backend,
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "versions": versions,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def machine_line(machine: dict[str, Any]) -> str:
    """One line naming a machine, e.g. ``AMD EPYC, 2 cores, 23.4 GiB RAM, no GPU (Keras on tensorflow)``."""
    gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
    return (f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
            f"{machine.get('ram_gib', '?')} GiB RAM, {gpus} "
            f"(Keras {machine.get('versions', {}).get('keras', '?')} on {machine.get('backend', '?')})")
