"""The SQLite statements of a key link search read the index of what they are given: never the whole group.

SQLite chooses a plan without statistics of the data, the same at ten links as at a million,
so the plan of every statement a search runs is checked here, for every combination of what
a search can name. A search by external id or by record that read the group's links in link
order, or counted them in a covering index, took 0.1-0.3 s at 1M links instead of 0.1 ms.
"""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from hub.model.key_link import LinkQuery
from hub.store import sqlite_idmap
from hub.store.sqlite import SQLiteStore
from tests.store.contract import G, ext, insert, rec

GIVEN = {"collection": "people", "hub_id": "h", "provider": "sf", "realm": "r1", "ext_id": "1"}
SEARCHES = [dict(c) for n in range(len(GIVEN) + 1) for c in itertools.combinations(GIVEN.items(), n)]


def plans(path: Path, query: LinkQuery) -> list[str]:
    """The plan of each statement `links` runs for the query, one line per step, joined."""
    conn = sqlite3.connect(path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)  # each statement as run, its parameters in place
    sqlite_idmap.links(conn, G, query)
    conn.set_trace_callback(None)
    found = [" / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements]
    conn.close()
    return found


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    store = SQLiteStore(str(tmp_path / "hub.db"))
    await store.open()
    await insert(store, *(rec(n, [ext("sf", str(n))]) for n in range(1, 4)))
    await store.close()
    return tmp_path / "hub.db"


@pytest.mark.parametrize("given", SEARCHES, ids=lambda given: "+".join(given) or "group")
def test_a_search_by_external_id_or_record_reads_their_index(database: Path, given: dict[str, str]) -> None:
    found = plans(database, LinkQuery(**given))
    assert len(found) == 2  # the page, and its total
    for plan in found:
        if "ext_id" in given:
            assert "INDEX external_ids_ext (group_id=? AND ext_id=?)" in plan, plan
        elif "hub_id" in given:
            assert "(hub_id=?" in plan, plan
        assert "SCAN" not in plan, plan
