"""Counts of listed records kept by triggers, so the total of an unfiltered page is one row, not a count.

A page of a collection says how many records its query has in all. Counted per request,
that total read every listed record's index entry: at a million records 0.4-0.6 s for a
plain page and 5 s for `opts[linked]`, however small the page. So SQLite keeps the counts
itself: `live_counts` holds, per group and collection, how many records a plain list
shows (`provider` and `realm` empty) and, per app, how many of those hold an id of the
app. Triggers on `records` and `external_ids` change them in the statement that changes
what they count, in its transaction, so a count is exact whoever writes: a create, a
merge (ids moved, records tombstoned), an unmerge, an archive, a link moved or deleted.

A filtered page still counts its matching rows: the filter may name any field.
"""

from __future__ import annotations

import sqlite3

from hub.model.query import ListQuery


def _live(row: str) -> str:
    """Whether the records row (`OLD`, `NEW`, an alias) is listed: neither merged away nor archived."""
    return f"{row}.merged_into IS NULL AND {row}.status != 'ARCHIVED'"


def _holder_live(hub_id: str) -> str:
    return f"EXISTS (SELECT 1 FROM records AS r WHERE r.hub_id = {hub_id} AND {_live('r')})"


_ADD = "ON CONFLICT (group_id, collection, provider, realm) DO UPDATE SET n = n + excluded.n"

SCHEMA = (
    """CREATE TABLE live_counts (
        group_id TEXT NOT NULL,
        collection TEXT NOT NULL,
        provider TEXT NOT NULL,
        realm TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (group_id, collection, provider, realm)
    ) WITHOUT ROWID""",
    f"""CREATE TRIGGER live_counts_record_in AFTER INSERT ON records
    WHEN {_live("NEW")} BEGIN
        INSERT INTO live_counts VALUES (NEW.group_id, NEW.collection, '', '', 1) {_ADD};
    END""",
    f"""CREATE TRIGGER live_counts_record_turn AFTER UPDATE OF status, merged_into ON records
    WHEN ({_live("OLD")}) != ({_live("NEW")})
    BEGIN
        INSERT INTO live_counts
        SELECT NEW.group_id, NEW.collection, '', '', IIF({_live("NEW")}, 1, -1)
        WHERE true {_ADD};
        INSERT INTO live_counts
        SELECT group_id, collection, provider, realm, IIF({_live("NEW")}, 1, -1)
        FROM external_ids WHERE hub_id = NEW.hub_id {_ADD};
    END""",
    f"""CREATE TRIGGER live_counts_link_in AFTER INSERT ON external_ids
    WHEN {_holder_live("NEW.hub_id")} BEGIN
        INSERT INTO live_counts VALUES (NEW.group_id, NEW.collection, NEW.provider, NEW.realm, 1) {_ADD};
    END""",
    f"""CREATE TRIGGER live_counts_link_out AFTER DELETE ON external_ids
    WHEN {_holder_live("OLD.hub_id")} BEGIN
        INSERT INTO live_counts VALUES (OLD.group_id, OLD.collection, OLD.provider, OLD.realm, -1) {_ADD};
    END""",
    f"""CREATE TRIGGER live_counts_link_moved AFTER UPDATE OF hub_id ON external_ids BEGIN
        INSERT INTO live_counts SELECT OLD.group_id, OLD.collection, OLD.provider, OLD.realm, -1
        WHERE {_holder_live("OLD.hub_id")} {_ADD};
        INSERT INTO live_counts SELECT NEW.group_id, NEW.collection, NEW.provider, NEW.realm, 1
        WHERE {_holder_live("NEW.hub_id")} {_ADD};
    END""",
)
"""A record is counted while it is listed (not merged away, not archived); a link while its record is."""

_FILL = (
    f"""INSERT INTO live_counts
    SELECT group_id, collection, '', '', COUNT(*) FROM records AS r WHERE {_live("r")} GROUP BY group_id, collection""",
    f"""INSERT INTO live_counts
    SELECT e.group_id, e.collection, e.provider, e.realm, COUNT(*)
    FROM external_ids AS e JOIN records AS r ON r.hub_id = e.hub_id
    WHERE {_live("r")}
    GROUP BY e.group_id, e.collection, e.provider, e.realm""",
)
"""The counts of a database written before they were kept (once, as the table is made)."""


def keep_counts(conn: sqlite3.Connection) -> None:
    """Make the counts and their triggers if the database has none, counting what it holds, in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        made = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'live_counts'").fetchone()
        for statement in (*SCHEMA, *_FILL) if made is None else ():
            conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def kept_total(conn: sqlite3.Connection, group_id: str, collection: str, query: ListQuery) -> int | None:
    """The total of a page from the kept counts; None for a query they do not count (a filter)."""
    if not query.kept:
        return None
    every = _count(conn, group_id, collection, "", "")
    held = _count(conn, group_id, collection, *query.app) if query.app is not None else 0
    return query.total_of(every, held)


def _count(conn: sqlite3.Connection, group_id: str, collection: str, provider: str, realm: str) -> int:
    row = conn.execute(
        "SELECT n FROM live_counts WHERE group_id = ? AND collection = ? AND provider = ? AND realm = ?",
        (group_id, collection, provider, realm),
    ).fetchone()
    return int(row[0]) if row else 0
