"""Dotted field paths (``patient.tags.0``) compiled into fast look-up functions.

A segment that is a canonical non-negative integer (``0``, ``12``, not ``01``) indexes into a list;
on an object it is an ordinary key.  Only JSON containers (``dict`` and ``list``) are traversed: a
path that runs into a string, number, null or a missing key yields :data:`MISSING` (never raises).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

MAX_PATH_LENGTH: Final = 512


class _Missing:
    """Sentinel type: the path does not exist in the data (distinct from JSON null)."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

Getter = Callable[[Any], Any]


def path_error(path: object) -> str | None:
    """Why ``path`` is not a valid field path, or None if it is."""
    if not isinstance(path, str):
        return "field must be a string"
    if not path:
        return "field must not be empty"
    if len(path) > MAX_PATH_LENGTH:
        return f"field must be at most {MAX_PATH_LENGTH} characters"
    for segment in path.split("."):
        if not segment:
            return "field must be dot-separated names without empty segments"
        if any(ch.isspace() for ch in segment):
            return "field must not contain whitespace"
    return None


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def is_index(segment: str) -> bool:
    return segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0")


def lookup(data: Any, segments: tuple[str, ...]) -> Any:
    """Resolve ``segments`` in ``data``; :data:`MISSING` if any step does not exist."""
    node = data
    for segment in segments:
        if type(node) is dict:
            node = node.get(segment, MISSING)
            if node is MISSING:
                return MISSING
        elif type(node) is list and is_index(segment):
            index = int(segment)
            if index >= len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return node


def make_getter(segments: tuple[str, ...]) -> Getter:
    """A function ``data -> value | MISSING`` for ``segments``, unrolled for common short paths."""
    if any(is_index(s) for s in segments) or len(segments) > 3:
        return lambda data: lookup(data, segments)
    miss = MISSING
    if len(segments) == 1:
        (k1,) = segments

        def get1(data: Any) -> Any:
            return data.get(k1, miss) if type(data) is dict else miss

        return get1
    if len(segments) == 2:
        k1, k2 = segments

        def get2(data: Any) -> Any:
            if type(data) is dict:
                node = data.get(k1, miss)
                if type(node) is dict:
                    return node.get(k2, miss)
            return miss

        return get2
    k1, k2, k3 = segments

    def get3(data: Any) -> Any:
        if type(data) is dict:
            node = data.get(k1, miss)
            if type(node) is dict:
                node = node.get(k2, miss)
                if type(node) is dict:
                    return node.get(k3, miss)
        return miss

    return get3
