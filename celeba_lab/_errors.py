"""The data errors of the package, in a module of their own that imports nothing.

Every module that raises or recognises them (the worker programs among them) imports them from
here without an import cycle. They are public as ``celeba_lab.data.CelebAError`` and so on: their
``__module__`` says so, so tracebacks, pickles and the API chapter name them there.
"""

from __future__ import annotations

__all__ = [
    "CelebAError", "DataNotFoundError", "AnnotationError", "UnknownAttributeError",
    "MissingImagesError", "CorruptImageError", "NotEnoughImagesError", "CacheWriteError",
]


class CelebAError(Exception):
    """Base class of every data error in the package; each message says what to do next."""


class DataNotFoundError(CelebAError, FileNotFoundError):
    """The CelebA folder, its image folder or an annotation file does not exist."""


class AnnotationError(CelebAError, ValueError):
    """An annotation file is malformed (the message names the file and the line)."""


class UnknownAttributeError(CelebAError, ValueError):
    """An attribute name that is not one of CelebA's 40 (the message suggests the closest)."""


class MissingImagesError(CelebAError, FileNotFoundError):
    """Images listed in the annotations are not in the image folder."""


class CorruptImageError(CelebAError, ValueError):
    """An image file cannot be decoded."""


class NotEnoughImagesError(CelebAError, ValueError):
    """A partition has too few positives or negatives for the balanced sample asked."""


class CacheWriteError(CelebAError, OSError):
    """The disk holding the image cache, or a synthetic set being written, is full (the message
    says how much space it needs)."""


#: Each error class by its name (how a worker process's answer names the error it met).
BY_NAME: dict[str, type[CelebAError]] = {
    error.__name__: error
    for error in (CelebAError, DataNotFoundError, AnnotationError, UnknownAttributeError,
                  MissingImagesError, CorruptImageError, NotEnoughImagesError, CacheWriteError)}

for _error in BY_NAME.values():
    _error.__module__ = "celeba_lab.data"
del _error
