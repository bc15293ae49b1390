"""The query parameters every paged read shares: the names it takes, whole numbers, its window, and `$skiptoken`s,
made and read back."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

from hub.errors import BadRequest
from hub.model.numbers import MAX_WHOLE, whole

MAX_SKIP = 10**9
"""The largest `$skip` a page takes."""


def check_params(params: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise BadRequest(f"unknown query parameter(s): {_quoted(unknown)}", allowed=sorted(allowed))
    multi_items = getattr(params, "multi_items", None)
    if multi_items is not None:
        repeated = sorted(name for name, count in Counter(name for name, _ in multi_items()).items() if count > 1)
        if repeated:
            raise BadRequest(f"query parameter(s) given more than once: {_quoted(repeated)}")


def _quoted(names: list[str]) -> str:
    """Parameter names, each quoted: bare, an empty name (`?=1`) or a blank one showed as nothing at all, and one
    holding a comma as two."""
    return ", ".join(repr(name) for name in names)


def whole_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """The query parameter `name`, a whole number from `low` to `high` (`default` if absent); else a 400."""
    raw = params.get(name)
    if raw is None:
        return default
    number = whole(raw)
    if number is None or not low <= number <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    return number


def skiptoken(params: Mapping[str, str], shape: re.Pattern[str], clash: bool, without: str) -> tuple[str, int] | None:
    """Where the page a `$skiptoken` names starts after, and how many came before it (None without a token);
    a 400 if it comes with what it goes `without` (`clash`) or is not of the `shape` this hub makes."""
    token = params.get("$skiptoken")
    if token is None:
        return None
    if clash:
        raise BadRequest(f"$skiptoken goes without {without}: pass the next link of a page as it is")
    if not (made := shape.fullmatch(token)):
        raise BadRequest(f"$skiptoken {token[:40]!r} is not one this hub made: pass the next link of a page as it is")
    return made[1], int(made[2])


def made_token(where: str, before: int) -> str:
    """The `$skiptoken` of a page starting after `where`, `before` items before it: the count no more than a token may
    say (`MAX_WHOLE`), so that the hub reads back every next link it gives."""
    return f"{where}.{min(before, MAX_WHOLE)}"


def window(params: Mapping[str, str], default_top: int, max_top: int) -> tuple[int, int]:
    """`$skip` and `$top` of a page, checked."""
    return whole_param(params, "$skip", 0, 0, MAX_SKIP), whole_param(params, "$top", default_top, 1, max_top)
