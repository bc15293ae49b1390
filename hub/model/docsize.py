"""How many bytes a JSON value takes as a MongoDB document (BSON), the measure of MongoDB's 16 MiB a document.

Worked out here rather than by encoding it, so that every store bounds what it keeps alike: a text's UTF-8 bytes
count as stored (not as JSON escapes them, 6 bytes for a control character), and each member adds its key and type.
"""

from __future__ import annotations

from typing import Any

INT32 = 2**31
"""Integers from -INT32 up to INT32 - 1 take 4 bytes, others 8."""


def document_size(document: dict[str, Any]) -> int:
    """The bytes of `document` as BSON: its length, its members, and a closing NUL."""
    return 5 + sum(_member(key, value) for key, value in document.items())


def _member(key: str, value: Any) -> int:
    """A member: a type byte, the key as a NUL-ended string, and the value."""
    return 2 + len(key.encode()) + _value(value)


def _value(value: Any) -> int:
    if isinstance(value, str):
        return 5 + len(value.encode())  # its length, its bytes, a NUL
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return 4 if -INT32 <= value < INT32 else 8
    if isinstance(value, float):
        return 8
    if value is None:
        return 0
    if isinstance(value, dict):
        return document_size(value)
    if isinstance(value, list):  # a document keyed "0", "1", …
        return 5 + sum(_member(str(index), member) for index, member in enumerate(value))
    raise TypeError(f"no JSON value: {type(value).__name__}")
