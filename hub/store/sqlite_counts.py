"""Counts of listed records kept by triggers, so the total of an unfiltered page is one row, not a count.

A page of a collection says how many records its query has in all. Counted per request,
that total read every listed record's index entry: at a million records 0.4-0.6 s for a
plain page and 5 s for `opts[linked]`, however small the page. So SQLite keeps the counts
itself: `live_counts` holds, per group and collection, how many records a plain list
shows (`provider` and `realm` empty) and, per app, how many of those hold an id of the
app. Triggers on `records` and `external_ids` change them in the statement that changes
what they count, in its transaction, so a count is exact whoever writes: a merge (ids
moved, records tombstoned), an unmerge, an archive, a link moved or deleted. Rows inserted
are counted by the statements that insert them (`count_added`), a count changed once per
statement: per row, as triggers do, counting was half the cost of a batch's inserts (a
create's record and link rows took 27 µs, 13.5 µs without the three triggers).

The records of each status but `ACTIVE` are counted too (`status_counts`, per group, collection and status, of
records not merged away: `list_query.COUNTED_APART`), inserted ones by `count_added` and a trigger following a
status changed, a merge or an unmerge: with the count of listed records they give the total of a filter on the
status alone (`status eq 'INACTIVE'`, `status ne 'ACTIVE'`, and a page of every status, which lists the archived
records too: `ListQuery.statuses`). Counted in each status's index, that total grew with the records of the status.
Active records, most of them, are the listed ones less the inactive: their writes change none of these counts.
`app_status_counts` keeps the same per app, of the links of such records (the total of an app's page by status,
`opts[linked]`, was counted record by record, each looked up among the app's links).

A filtered page still counts its matching rows: the filter may name any field. Where the rows it leaves out
are found as simply (a range of a record's own time or code, a key link search's span of time) and are few,
it counts those instead, less a kept count (`fewer_counted`).

Key links are counted the same way: `link_counts` holds, per group, collection and app, how
many links there are (whatever their record's state: an archived record keeps its ids), kept
by `count_added` as links are made and a trigger as they are deleted (a moved link stays in
its group, collection and app). A search by group, collection, provider or realm sums a few of its rows
instead of counting every link it matches: 55-65 ms at 1M links, now a fraction of one.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from hub.model.key_link import LinkQuery
from hub.model.list_query import COUNTED_APART, ListQuery, StatusCounts
from hub.model.record import Record


def _live(row: str) -> str:
    """Whether the records row (`OLD`, `NEW`, an alias) is listed: neither merged away nor archived."""
    return f"{row}.merged_into IS NULL AND {row}.status != 'ARCHIVED'"


def _holder_live(hub_id: str) -> str:
    return f"EXISTS (SELECT 1 FROM records AS r WHERE r.hub_id = {hub_id} AND {_live('r')})"


def _add(key: str) -> str:
    """What makes an insert into a table of counts add its `n` to the row of its key (`group_id, collection, key`)."""
    return f"ON CONFLICT (group_id, collection, {key}) DO UPDATE SET n = n + excluded.n"


_ADD = _add("provider, realm")


def _table(name: str) -> str:
    """A table of counts: `n` per group, collection and app (`provider` and `realm` empty: of no app)."""
    return f"""CREATE TABLE {name} (
        group_id TEXT NOT NULL,
        collection TEXT NOT NULL,
        provider TEXT NOT NULL,
        realm TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (group_id, collection, provider, realm)
    ) WITHOUT ROWID"""


SCHEMA = (
    _table("live_counts"),
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


def _apart(row: str) -> str:
    """The status a records row (`OLD`, `NEW`, an alias) is counted under in `status_counts`, or NULL: that of a record
    not merged away, if `COUNTED_APART`."""
    statuses = ", ".join(f"'{status}'" for status in COUNTED_APART)
    return f"IIF({row}.merged_into IS NULL AND {row}.status IN ({statuses}), {row}.status, NULL)"


_ADD_STATUS = _add("status")

STATUS_SCHEMA = (
    """CREATE TABLE status_counts (
        group_id TEXT NOT NULL,
        collection TEXT NOT NULL,
        status TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (group_id, collection, status)
    ) WITHOUT ROWID""",
    f"""CREATE TRIGGER status_counts_turn AFTER UPDATE OF status, merged_into ON records
    WHEN {_apart("OLD")} IS NOT {_apart("NEW")}
    BEGIN
        INSERT INTO status_counts SELECT OLD.group_id, OLD.collection, OLD.status, -1
        WHERE {_apart("OLD")} IS NOT NULL {_ADD_STATUS};
        INSERT INTO status_counts SELECT NEW.group_id, NEW.collection, NEW.status, 1
        WHERE {_apart("NEW")} IS NOT NULL {_ADD_STATUS};
    END""",
)
"""A record is counted under its status while it has one counted apart and is not merged away."""

_STATUS_FILL = (
    f"""INSERT INTO status_counts SELECT group_id, collection, status, COUNT(*) FROM records AS r
    WHERE {_apart("r")} IS NOT NULL GROUP BY group_id, collection, status""",
)

_ADD_APP_STATUS = _add("provider, realm, status")


def _holder_apart(link: str, n: int) -> str:
    """The row of `app_status_counts` adding `n` for the link (`OLD`, `NEW`) under its record's status, if counted
    apart (none otherwise)."""
    return f"""INSERT INTO app_status_counts
        SELECT {link}.group_id, {link}.collection, {link}.provider, {link}.realm, r.status, {n}
        FROM records AS r WHERE r.hub_id = {link}.hub_id AND {_apart("r")} IS NOT NULL {_ADD_APP_STATUS};"""


APP_STATUS_SCHEMA = (
    """CREATE TABLE app_status_counts (
        group_id TEXT NOT NULL,
        collection TEXT NOT NULL,
        provider TEXT NOT NULL,
        realm TEXT NOT NULL,
        status TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (group_id, collection, provider, realm, status)
    ) WITHOUT ROWID""",
    f"""CREATE TRIGGER app_status_counts_turn AFTER UPDATE OF status, merged_into ON records
    WHEN {_apart("OLD")} IS NOT {_apart("NEW")}
    BEGIN
        INSERT INTO app_status_counts SELECT group_id, collection, provider, realm, OLD.status, -1
        FROM external_ids WHERE hub_id = NEW.hub_id AND {_apart("OLD")} IS NOT NULL {_ADD_APP_STATUS};
        INSERT INTO app_status_counts SELECT group_id, collection, provider, realm, NEW.status, 1
        FROM external_ids WHERE hub_id = NEW.hub_id AND {_apart("NEW")} IS NOT NULL {_ADD_APP_STATUS};
    END""",
    f"""CREATE TRIGGER app_status_counts_link_out AFTER DELETE ON external_ids BEGIN
        {_holder_apart("OLD", -1)}
    END""",
    f"""CREATE TRIGGER app_status_counts_link_moved AFTER UPDATE OF hub_id ON external_ids BEGIN
        {_holder_apart("OLD", -1)}
        {_holder_apart("NEW", 1)}
    END""",
)
"""A link is counted under its record's status, per app, while the record has one counted apart and is not merged
away (`status_counts` per app): links inserted by `count_added`, the rest by these triggers."""

_APP_STATUS_FILL = (
    f"""INSERT INTO app_status_counts SELECT e.group_id, e.collection, e.provider, e.realm, r.status, COUNT(*)
    FROM external_ids AS e JOIN records AS r ON r.hub_id = e.hub_id WHERE {_apart("r")} IS NOT NULL
    GROUP BY e.group_id, e.collection, e.provider, e.realm, r.status""",
)

LINK_SCHEMA = (
    _table("link_counts"),
    f"""CREATE TRIGGER link_counts_out AFTER DELETE ON external_ids BEGIN
        INSERT INTO link_counts VALUES (OLD.group_id, OLD.collection, OLD.provider, OLD.realm, -1) {_ADD};
    END""",
)
"""Every link is counted, in its group, collection and app."""

_LINK_FILL = (
    """INSERT INTO link_counts SELECT group_id, collection, provider, realm, COUNT(*)
    FROM external_ids GROUP BY group_id, collection, provider, realm""",
)

_KEPT = (
    ("live_counts", SCHEMA, _FILL),
    ("link_counts", LINK_SCHEMA, _LINK_FILL),
    ("status_counts", STATUS_SCHEMA, _STATUS_FILL),
    ("app_status_counts", APP_STATUS_SCHEMA, _APP_STATUS_FILL),
)
"""Each table of counts, what makes it and its triggers, and what counts what a database already holds."""

COUNTED_BY_STORE = ("live_counts_record_in", "live_counts_link_in", "link_counts_in")
"""The triggers that counted each row inserted, left in databases made before `count_added` counted them."""

PROVIDERS = "CREATE INDEX IF NOT EXISTS link_counts_providers ON link_counts (provider) WHERE n > 0"
"""The providers holding any link: one index seek each (`sqlite_idmap.providers`)."""


def keep_counts(conn: sqlite3.Connection) -> None:
    """Make each table of counts and its triggers if the database has none, counting what it holds (run in one
    transaction: `sqlite_conn.in_transaction`)."""
    for table, schema, fill in _KEPT:
        made = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        for statement in (*schema, *fill) if made is None else ():
            conn.execute(statement)
    for trigger in COUNTED_BY_STORE:
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute(PROVIDERS)


def recount(conn: sqlite3.Connection) -> None:
    """Count again what each table of counts holds, from the records and their ids (in one transaction)."""
    for table, _, fill in _KEPT:
        conn.execute(f"DELETE FROM {table}")
        for statement in fill:
            conn.execute(statement)


def listed(record: Record) -> bool:
    """Whether a record as written is listed (`_live`): what its row and its links count in `live_counts`."""
    return record.merged_into is None and record.status != "ARCHIVED"


def counted_apart(record: Record) -> bool:
    """Whether a record as written counts in `status_counts` (`_apart`)."""
    return record.merged_into is None and record.status in COUNTED_APART


def statuses_among(conn: sqlite3.Connection, hub_ids: Sequence[str]) -> dict[str, str]:
    """The status of each record, of those given, not merged away as stored: what its links count under."""
    if not hub_ids:
        return {}
    marks = ",".join("?" * len(hub_ids))
    found = conn.execute(
        f"SELECT hub_id, status FROM records WHERE hub_id IN ({marks}) AND merged_into IS NULL", list(hub_ids)
    )
    return {str(hub_id): str(status) for hub_id, status in found}


def count_added(conn: sqlite3.Connection, table: str, rows: Iterable[tuple[str, ...]]) -> None:
    """Count one more in `table` for each key given (group, collection, provider, realm; in `status_counts` group,
    collection, status; in `app_status_counts` both), once per key however often it is given: what the rows one
    statement inserted add (a record listed: `live_counts` of no app; one `counted_apart`: `status_counts`; a link:
    `link_counts`, `live_counts` if its record is listed, `app_status_counts` if it is counted apart). Called by
    that statement's caller, in its transaction, so the counts change with the rows they count."""
    added = Counter(rows)
    if added:
        marks = ", ".join("?" * (len(next(iter(added))) + 1))
        add = _ADDS[table]
        conn.executemany(f"INSERT INTO {table} VALUES ({marks}) {add}", [(*key, n) for key, n in added.items()])


_ADDS = {
    "live_counts": _ADD,
    "link_counts": _ADD,
    "status_counts": _ADD_STATUS,
    "app_status_counts": _ADD_APP_STATUS,
}
"""What makes an insert into each table of counts add to the row of its key."""


def kept_total(conn: sqlite3.Connection, group_id: str, collection: str, query: ListQuery) -> tuple[int, int] | None:
    """The total of a page's listed records from the kept counts (the archived ones it lists are not: `ListQuery.kept`),
    and how many records a plain list of the collection shows; None for a query they do not count (a filter)."""
    return unfiltered_total(conn, group_id, collection, query) if query.kept else None


def unfiltered_total(conn: sqlite3.Connection, group_id: str, collection: str, query: ListQuery) -> tuple[int, int]:
    """The total of the page's query without its filter, of listed records alone, and how many records a plain list
    of the collection shows, from the kept counts."""
    every = listed_in(conn, group_id, collection)
    held = _count(conn, group_id, collection, *query.app) if query.app is not None else 0
    return query.total_of(every, held), every


def status_total(conn: sqlite3.Connection, group_id: str, collection: str, query: ListQuery) -> int:
    """The total of a query of some statuses (`ListQuery.statuses`), from the kept counts of records listed and of each
    status counted apart, of all and of those holding an id of the query's app."""
    apart = conn.execute(
        "SELECT status, n FROM status_counts WHERE group_id = ? AND collection = ?", (group_id, collection)
    )
    every: StatusCounts = (listed_in(conn, group_id, collection), {str(s): int(n) for s, n in apart})
    if query.app is None:
        return query.total_by_status(every, (0, {}))
    held = conn.execute(
        "SELECT status, n FROM app_status_counts WHERE group_id = ? AND collection = ? AND provider = ? AND realm = ?",
        (group_id, collection, *query.app),
    )
    return query.total_by_status(every, (_count(conn, group_id, collection, *query.app), dict(held.fetchall())))


def few(matching: int, window: int, among: int) -> bool:
    """Whether `matching` rows of `among` are few enough to read them all by their own index and sort them, rather
    than walk the rows in order until `window` of them match: reading them costs about `matching` rows, a walk
    about `window * among / matching` if they are spread evenly, so either way a page reads at most about
    `sqrt(window * among)` rows (10,000 for a page of 100 among 1M)."""
    return matching * matching < window * among


def fewer_counted(
    matching: Callable[[int | None], int], left_out: Callable[[int], int] | None, whole: Callable[[], int]
) -> int:
    """How many rows a query matches: `matching(most)` counts them (no more than `most`, if given); where the rows
    it leaves out of a kept count (`whole()`) are found as simply, `left_out(most)` counts those. Up to
    `FLIP_AFTER` of each side are counted first: if those left out are fewer, the total is `whole()` less them,
    else all the matching rows are counted. So a query matching nearly everything (an initial sync, a span of
    time from before the first link) counts the few it leaves out, at a cost of 2 x `FLIP_AFTER` rows where
    both sides are many. A kept count gone too low (a hub from before it wrote the same store) shows as fewer than
    the `FLIP_AFTER` found already: then they are all counted, not given as 0 beside the rows a page shows."""
    if left_out is None:
        return matching(None)
    some = matching(FLIP_AFTER)
    if some < FLIP_AFTER:
        return some
    others = left_out(FLIP_AFTER)
    if others < FLIP_AFTER and (total := whole() - others) >= some:
        return total
    return matching(None)


def count_rows(conn: sqlite3.Connection, found: str, params: list[Any], most: int | None) -> int:
    """How many rows `found` (FROM and WHERE text, with its `params`) finds, no more than `most` if given."""
    if most is None:
        return int(conn.execute(f"SELECT COUNT(*) FROM {found}", params).fetchone()[0])
    return int(conn.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM {found} LIMIT ?)", [*params, most]).fetchone()[0])


FLIP_AFTER = 5_000
"""How many rows of a query, and of those it leaves out, `fewer_counted` counts before it counts all it matches
(each costs 0.1-0.2 µs in an index, about 1 µs if looked up in a table or among an app's links)."""


def nearly_all(matching: int, among: int) -> bool:
    """Whether a walk of `among` rows to those `matching` passes over few others (no more than `FLIP_AFTER`)."""
    return among - matching <= FLIP_AFTER


def listed_in(conn: sqlite3.Connection, group_id: str, collection: str) -> int:
    """How many records a plain list of the collection shows."""
    return _count(conn, group_id, collection, "", "")


def _count(conn: sqlite3.Connection, group_id: str, collection: str, provider: str, realm: str) -> int:
    row = conn.execute(
        "SELECT n FROM live_counts WHERE group_id = ? AND collection = ? AND provider = ? AND realm = ?",
        (group_id, collection, provider, realm),
    ).fetchone()
    return int(row[0]) if row else 0


def kept_links(conn: sqlite3.Connection, group_id: str, query: LinkQuery) -> int | None:
    """The total of a key link search from the kept counts; None for a search they do not count."""
    return counted_links(conn, group_id, query) if query.kept else None


def counted_links(conn: sqlite3.Connection, group_id: str, query: LinkQuery) -> int:
    """How many links the kept counts give a search by group, collection, provider and realm (the rest of it
    left out)."""
    where, params = _links_counted(group_id, query)
    return int(conn.execute(f"SELECT TOTAL(n) FROM link_counts WHERE {where}", params).fetchone()[0])


def counted_apps(conn: sqlite3.Connection, group_id: str, query: LinkQuery, most: int) -> list[tuple[str, str, str]]:
    """The (entity type, provider, realm) of each app's links in an entity type that a counted search finds any
    of, from the kept counts; more than `most` of them are not listed (an empty list)."""
    where, params = _links_counted(group_id, query)
    found = conn.execute(
        f"SELECT collection, provider, realm FROM link_counts WHERE {where} AND n > 0 LIMIT ?", [*params, most + 1]
    ).fetchall()
    return [] if len(found) > most else [(str(c), str(p), str(r)) for c, p, r in found]


def _links_counted(group_id: str, query: LinkQuery) -> tuple[str, list[str]]:
    """The rows of `link_counts` that count a search's links: its group's, of its collection, provider and realm."""
    where, params = ["group_id = ?"], [group_id]
    for column, value in (("collection", query.collection), ("provider", query.provider), ("realm", query.realm)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(where), params
