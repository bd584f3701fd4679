"""Every figure the book shows, one submodule per part of the book.

Each returns a :class:`matplotlib.figure.Figure` (for animations, a path); Keras is imported
only inside the functions that need it, so ``import celeba_lab.plots`` starts none.
"""

from . import classifiers, collapse, data, gan, performance, toy
from .classifiers import *  # noqa: F403  (each submodule's __all__: its public figures)
from .collapse import *  # noqa: F403
from .data import *  # noqa: F403
from .gan import *  # noqa: F403
from .performance import *  # noqa: F403
from .toy import *  # noqa: F403

__all__ = [*data.__all__, *classifiers.__all__, *gan.__all__, *collapse.__all__, *toy.__all__,
           *performance.__all__]
