"""Every figure the book shows, one submodule per part of the book.

Each function returns a :class:`matplotlib.figure.Figure` (or writes a file and returns its
path, for animations), so a chapter shows it, saves it, or glues it into its text.
"""

from __future__ import annotations

import importlib

_PARTS = ("data", "classifiers", "gan", "collapse", "toy", "performance")
__all__: list[str] = []

for _part in _PARTS:
    try:
        _module = importlib.import_module(f"{__name__}.{_part}")
    except ModuleNotFoundError as _error:
        if _error.name == f"{__name__}.{_part}":
            continue  # that part of the book is not in this build
        raise
    for _name in getattr(_module, "__all__", ()):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
