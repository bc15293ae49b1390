"""Whole numbers as clients write them in paths, query strings, cursors and codes."""

from __future__ import annotations

MAX_DIGITS = 18
"""The most digits the hub reads a number of: any such number fits the stores' 64-bit integers."""
MAX_WHOLE = 10**MAX_DIGITS - 1
"""The largest number the hub reads."""


def whole(text: str) -> int | None:
    """The number `text` writes in ASCII digits (no more than `MAX_DIGITS`), None if it writes none.

    `str.isdigit` takes `²` as well, which `int` refuses, and `int` takes Arabic-Indic digits, `1_0` and ` 1`.
    """
    return int(text) if text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS else None
