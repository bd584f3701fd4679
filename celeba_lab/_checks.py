"""Argument checks shared by the package: a wrong argument is refused, never replaced."""

from __future__ import annotations

import math
import numbers


def whole_number(name: str, value, *, minimum: int = 1, where: str = "") -> int:
    """``value`` as an ``int`` if it is a whole number of at least ``minimum``.

    ``2.0`` is accepted as 2; ``1.7``, ``nan``, ``True``, ``"3"`` and ``None`` are refused. The
    message names the argument ``name``, then ``where`` (e.g. ``" in the profile 'quick:...'"``).

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is not whole, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}{where} must be a whole number of at least {minimum}, "
                        f"not {value!r} ({type(value).__name__}).")
    if not math.isfinite(value) or value != int(value) or value < minimum:
        raise ValueError(f"{name}{where} must be a whole number of at least {minimum}, "
                         f"got {value!r}.")
    return int(value)


def positive_number(name: str, value, *, where: str = "") -> float:
    """``value`` as a ``float`` if it is a finite number above 0 (a width, a learning rate).

    ``True``, ``"0.1"``, ``None``, ``nan`` and infinities are refused; ``name`` and ``where``
    as for :func:`whole_number`.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is not finite, or not above 0.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}{where} must be a number above 0, not {value!r} "
                        f"({type(value).__name__}).")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}{where} must be a finite number above 0, got {value!r}.")
    return float(value)
