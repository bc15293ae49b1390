"""Checks that a JSON value's size as a MongoDB document is worked out as the BSON encoder makes it."""

from __future__ import annotations

from typing import Any

import bson
from hypothesis import given
from hypothesis import strategies as st

from hub.model.docsize import document_size

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text().filter(lambda t: "\x00" not in t)
)
keys = st.text().filter(lambda t: "\x00" not in t)
values = st.recursive(scalars, lambda inner: st.lists(inner) | st.dictionaries(keys, inner), max_leaves=30)


@given(st.dictionaries(keys, values))
def test_a_document_s_size_is_its_bson_length(document: dict[str, Any]) -> None:
    assert document_size(document) == len(bson.encode(document))
