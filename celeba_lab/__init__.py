"""celeba_lab: face-attribute classifiers and face generators on CelebA, the package of the book.

Type ``import celeba_lab as cl`` and use ``cl.load_celeba``, ``cl.balanced_sample``,
``cl.train_classifier``, ``cl.train_gan`` and the rest of the public API (listed by
``dir(cl)`` and in the book's API chapter).

Names are loaded lazily: importing the package is instant and does not start Keras until a
function that needs it is used, so ``python -m celeba_lab synth`` and the data layer work on a
machine without TensorFlow.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Searched in this order for a public name; cheap modules first.
_MODULES = (
    "attributes",
    "config",
    "synthetic",
    "faces",
    "data",
    "images",
    "cache",
    "download",
    "environment",
    "batches",
    "classifiers",
    "classifier_runs",
    "evaluation",
    "gan",
    "gan_training",
    "gan_images",
    "gan_checkpoints",
    "runs",
    "gan_backends",
    "collapse",
    "learned",
    "toy",
    "narrative",
    "plots",
)


def _module(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _MODULES or name == "_io":
        # `from . import config` looks the submodule up before importing it: import only it,
        # not every module (which would start Keras from the data layer).
        return _module(name)
    for module_name in _MODULES:
        try:
            module = _module(module_name)
        except ModuleNotFoundError as error:
            if error.name == f"{__name__}.{module_name}":
                continue  # a part of the package not written in this build
            raise
        if name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'celeba_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    names = set(globals())
    for module_name in _MODULES:
        try:
            names.update(getattr(_module(module_name), "__all__", ()))
        except ModuleNotFoundError:
            continue
    return sorted(names)
