"""Config checks shared by the experiment configs; each error names the offending field."""

from __future__ import annotations

__all__ = ["require_at_least", "require_fraction", "require_positive"]


def require_at_least(field: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ValueError(f"{field} must be >= {minimum}, got {value!r}")


def require_positive(field: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{field} must be > 0, got {value!r}")


def require_fraction(field: str, value: float) -> None:
    """An open-interval fraction: 0 and 1 would make `keep_real` the same as another regime."""
    if not 0.0 < value < 1.0:
        raise ValueError(f"{field} must be strictly between 0 and 1, got {value!r}")
