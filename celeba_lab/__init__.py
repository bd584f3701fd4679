"""celeba_lab: face-attribute classifiers and face generators on CelebA, the package of the book.

``cl.<name>`` is public for every name in a module's ``__all__`` (the rest is internal), read
into :data:`_API` (name -> module) without importing the modules: importing is instant and
starts Keras only when a name needs it. The ``TYPE_CHECKING`` imports are for static tools.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent

#: The modules whose ``__all__`` is public (``cl.<name>``), in the API chapter's order. A module
#: added here is also star-imported in the ``TYPE_CHECKING`` block at the end.
_PUBLIC_MODULES = (
    "attributes", "config", "environment", "data", "synthetic", "faces", "download", "images",
    "cache", "batches", "classifiers", "classifier_runs", "evaluation", "narrative", "gan",
    "gan_images", "gan_training", "gan_checkpoints", "learned", "reader", "toy",
    "collapse.background", "collapse.cells",
    "collapse.bootstrap", "collapse.correction", "collapse.distances", "collapse.features",
    "collapse.instrument", "collapse.simulation", "collapse.report", "plots.data",
    "plots.classifiers", "plots.gan", "plots.collapse", "plots.toy", "plots.performance",
)


def _listed(module: str) -> list[str]:
    """The names in ``module``'s ``__all__``, read from its source without importing it."""
    source = _HERE.joinpath(*module.split(".")).with_suffix(".py").read_text(encoding="utf-8")
    found = re.search(r"^__all__ = (\[.*?\])", source, re.M | re.S)
    if found is None:
        raise ImportError(f"celeba_lab.{module} has no literal __all__ = [...] list.")
    return ast.literal_eval(found.group(1))


#: Every public name -> the module (under ``celeba_lab``) that defines it.
_API: dict[str, str] = {name: module for module in _PUBLIC_MODULES for name in _listed(module)}

#: The package's modules, reachable as ``cl.<module>`` (``cl.config``, ``cl.plots``, ...).
_SUBMODULES = tuple(sorted(path.stem if path.suffix else path.name for path in _HERE.iterdir()
                           if not path.name.startswith(("_", "."))
                           and (path.suffix == ".py" or (path / "__init__.py").is_file())))

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'celeba_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API, *_SUBMODULES})


if TYPE_CHECKING:  # the same modules' public names, for editors and static tools
    from .attributes import *  # noqa: F403
    from .config import *  # noqa: F403
    from .environment import *  # noqa: F403
    from .data import *  # noqa: F403
    from .synthetic import *  # noqa: F403
    from .faces import *  # noqa: F403
    from .download import *  # noqa: F403
    from .images import *  # noqa: F403
    from .cache import *  # noqa: F403
    from .batches import *  # noqa: F403
    from .classifiers import *  # noqa: F403
    from .classifier_runs import *  # noqa: F403
    from .evaluation import *  # noqa: F403
    from .narrative import *  # noqa: F403
    from .gan import *  # noqa: F403
    from .gan_images import *  # noqa: F403
    from .gan_training import *  # noqa: F403
    from .gan_checkpoints import *  # noqa: F403
    from .learned import *  # noqa: F403
    from .reader import *  # noqa: F403
    from .toy import *  # noqa: F403
    from .collapse.background import *  # noqa: F403
    from .collapse.cells import *  # noqa: F403
    from .collapse.bootstrap import *  # noqa: F403
    from .collapse.correction import *  # noqa: F403
    from .collapse.distances import *  # noqa: F403
    from .collapse.features import *  # noqa: F403
    from .collapse.instrument import *  # noqa: F403
    from .collapse.simulation import *  # noqa: F403
    from .collapse.report import *  # noqa: F403
    from .plots.data import *  # noqa: F403
    from .plots.classifiers import *  # noqa: F403
    from .plots.gan import *  # noqa: F403
    from .plots.collapse import *  # noqa: F403
    from .plots.toy import *  # noqa: F403
    from .plots.performance import *  # noqa: F403
