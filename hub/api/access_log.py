"""A key sent in a URL's query string, where the hub never reads one, kept out of the access log.

The access log writes every request's path and query string as sent: a client that put its key there (`?api_key=`,
as some APIs take it) left a live secret in the log, for anyone who reads it to call the hub with.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

_KEY = re.compile(r"hk_[0-9a-f]{16}|\baGtf")
"""A key id, or the start of a key in HTTP Basic's form (`aGtf` is `hk_` in base64)."""


def holds_key(query: str) -> bool:
    """Whether a query string, as sent, names an API key in one of the two forms a request carries one in."""
    return _KEY.search(unquote_plus(query)) is not None


def hidden(query: str) -> str:
    """The query string with each value replaced by `***`, its names kept: what was sent stays readable, but not the
    secret, which may be a parameter of its own beside the key id."""
    return "&".join(part.split("=", 1)[0] + "=***" if "=" in part else "***" for part in query.split("&"))


class KeysHidden(logging.Filter):
    """Hides the values of a logged path's query string that holds a key (uvicorn's access log passes the path with
    its query string as one argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_hide(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def _hide(text: str) -> str:
    path, mark, query = text.partition("?")
    return f"{path}?{hidden(query)}" if mark and holds_key(query) else text
