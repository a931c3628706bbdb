"""Provider answers made fit for logs and records: no e-mail addresses, no phone numbers."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")


def scrub(text: str, limit: int = 300) -> str:
    """``text`` without addresses or phone numbers, on one line, at most ``limit`` characters."""
    one_line = " ".join(text.split())
    return _PHONE.sub(_number, _EMAIL.sub("[address]", one_line))[:limit]


def _number(match: re.Match[str]) -> str:
    """A run of 7 digits or more is a number to hide; fewer (reply codes, ``5.1.1``) stay."""
    return "[number]" if sum(c.isdigit() for c in match[0]) >= 7 else match[0]
