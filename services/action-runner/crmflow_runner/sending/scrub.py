"""Provider answers made fit for logs and records: no e-mail addresses, no phone numbers."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
_PHONE = re.compile(r"\+?\d[\d ().-]{5,}\d")


def scrub(text: str, limit: int = 300) -> str:
    """``text`` without addresses or phone numbers, on one line, at most ``limit`` characters."""
    one_line = " ".join(text.split())
    return _PHONE.sub("[number]", _EMAIL.sub("[address]", one_line))[:limit]
