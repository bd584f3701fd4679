"""Argument checks shared by the package: a wrong argument is refused, never replaced."""

from __future__ import annotations

import numbers


def whole_number(name: str, value, *, minimum: int = 1, where: str = "") -> int:
    """``value`` as an ``int`` if it is a whole number of at least ``minimum``.

    ``2.0`` is accepted as 2; ``1.7``, ``True``, ``"3"``, ``None`` and numbers below
    ``minimum`` raise, naming the argument and what it takes.

    Args:
        name: The argument's name, for the message.
        value: What was passed.
        minimum: The smallest value allowed.
        where: Optional context for the message (e.g. ``" in the profile 'quick:...'"``).

    Returns:
        The value as an ``int``.

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is not whole, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}{where} must be a whole number of at least {minimum}, "
                        f"not {value!r} ({type(value).__name__}).")
    if value != int(value) or value < minimum:
        raise ValueError(f"{name}{where} must be a whole number of at least {minimum}, "
                         f"got {value!r}.")
    return int(value)
