"""Build a teacher backend by name. Heavy engines are imported only when chosen."""

from __future__ import annotations

from resources.teacher.base import TeacherBackend

__all__ = ["BACKENDS", "make_backend"]

BACKENDS = ("rules",)


def make_backend(backend: str, model: str = "") -> TeacherBackend:
    if backend == "rules":
        from resources.teacher.rules import RulesBackend

        return RulesBackend()
    raise ValueError(f"unknown teacher backend {backend!r}; choose one of {list(BACKENDS)}")
