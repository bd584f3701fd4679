"""Every figure the book shows, one submodule per part of the book.

Each function returns a :class:`matplotlib.figure.Figure` (or writes a file and returns its
path, for animations), so a chapter shows it, saves it, or glues it into its text. The
submodules import only matplotlib, seaborn, numpy and pandas at the top (the models they draw
are imported when a figure needs them), so ``import celeba_lab.plots`` starts no Keras.
"""

from __future__ import annotations

from . import classifiers, collapse, data, gan, performance, toy
from .classifiers import *  # noqa: F403  (each submodule's __all__: its public figures)
from .collapse import *  # noqa: F403
from .data import *  # noqa: F403
from .gan import *  # noqa: F403
from .performance import *  # noqa: F403
from .toy import *  # noqa: F403

__all__: list[str] = []
__all__ += data.__all__
__all__ += classifiers.__all__
__all__ += gan.__all__
__all__ += collapse.__all__
__all__ += toy.__all__
__all__ += performance.__all__
