"""A page of a collection as a store reads it: its filter, order and window, the app of `opts[linked]`, and how its
total comes from the kept counts or from the queries it splits into."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import get_args

from hub.model import keyset
from hub.model.collections import META_KINDS, Status
from hub.model.filter import And, Comparison, In, Node, Not, Or, Value, fields_of
from hub.model.paging import made_token
from hub.model.record import Record

StatusCounts = tuple[int, Mapping[str, int]]
"""Kept counts of records (of all, or of those holding an app's ids): how many are listed, and how many (not merged
away) have each status counted apart (`COUNTED_APART`)."""


@dataclass(frozen=True)
class ListQuery:
    """A page of a collection: filter, order, window and the `opts[linked]` app filter."""

    filter: Node | None = None
    order: Sequence[tuple[tuple[str, ...], bool]] = ()
    """(field path, descending) pairs."""
    skip: int = 0
    """How many records of the query come before the page: its offset, unless `after` says where it starts."""
    top: int = 100
    app: tuple[str, str] | None = None
    """(provider, realm) for `opts[linked]`."""
    linked: bool = True
    include_archived: bool = False
    count: bool = field(default=True)
    """Whether the page says its total (`$count=false` spares a filtered one the count of what it matches)."""
    after: int | None = None
    """The code number the page starts after (a `$skiptoken`): found from the code index, not by passing `skip`
    records, which then only says how many came before when the token was made. The total leaves it out."""
    after_values: tuple[Value, ...] = ()
    """With `$orderby`, the sort values of the record the page starts after (`keyset`); its code is `after`."""

    @property
    def offset(self) -> int:
        """How many of the query's records a store passes over before the page."""
        return self.skip if self.after is None else 0

    @property
    def kept(self) -> bool:
        """Whether the stores' kept counts give the total: they count listed records, in all and per app, but not
        those a filter picks; the archived ones a query without a filter lists too (`include_archived`: a filter
        admitting every status, an export) are kept apart, in all and per app (`statuses`)."""
        return self.filter is None

    @property
    def statuses(self) -> tuple[Status, ...] | None:
        """The statuses whose records are exactly this query's (an app's, with `opts[linked]`), if its filter says no
        more than which (`status eq` one, or several as `by_status` splits them; every status for one listing the
        archived records too without a filter): its total is then a sum of kept counts (`total_by_status`), where
        counting the records of each status in its own index grew with them. None for any other query (those of a
        plain list are `kept`)."""
        if self.filter is None and not self.include_archived:
            return None
        if self.filter is None:
            return get_args(Status)
        found: list[Status] = []
        for part in self.by_status() or (self,):
            node = part.filter
            if not isinstance(node, Comparison) or node.field != ("status",) or node.op != "eq":
                return None
            if (status := _STATUS_OF.get(node.value)) is None:  # `status eq null`: no record has it
                return None
            found.append(status)
        return tuple(found)

    def total_by_status(self, every: StatusCounts, held: StatusCounts) -> int:
        """The total of a query of `statuses` from the kept counts of every record and of those holding an id of the
        query's app (`held`, unread without an app)."""
        return self.total_of(self._of_statuses(*every), self._of_statuses(*held) if self.app is not None else 0)

    def _of_statuses(self, listed: int, apart: Mapping[str, int]) -> int:
        """How many records have one of `statuses`: `apart` says how many (not merged away) have each status counted
        apart (`COUNTED_APART`), `listed` how many a plain list shows, the active ones among them being those less
        the inactive (none, should counts gone wrong say fewer: see `total_of`)."""
        inactive = apart.get("INACTIVE", 0)
        return sum(apart.get(s, 0) if s in COUNTED_APART else max(0, listed - inactive) for s in self.statuses or ())

    def total_of(self, every: int, held: int) -> int:
        """The total from the kept counts: `every` listed record, `held` those holding an id of `app`. Never below
        zero: counts gone wrong (a hub from before one was kept writing the same store) may be too low until `hub
        recount`, and a negative total left a client paging to it nowhere to stop."""
        if self.app is None:
            return every
        return held if self.linked else max(0, every - held)

    def complement(self) -> ListQuery | None:
        """The query listing exactly the listed records of this one unfiltered that it leaves out, if its filter is
        an order comparison (never with null) of a field every record has (`updated_at gt …`, `code le …`): then its
        total is the kept count of the query unfiltered less the complement's, which an initial sync (`updated_at gt`
        a time before any record) counts from the few records before the time, not the many after."""
        node = self.filter
        if not isinstance(node, Comparison) or len(node.field) != 1:
            return None
        if self.include_archived or node.op not in _FLIPPED or node.field[0] not in META_KINDS:
            return None
        return replace(self, filter=replace(node, op=_FLIPPED[node.op]))

    def by_status(self) -> tuple[ListQuery, ...]:
        """The queries of one status each whose records together are this one's, if its filter is `status in (…)`
        (as `parse_list` writes `status ne 'ACTIVE'` too), alone or an item of its `and` (each query then has the
        other items and its status): a store counts and reads each from its status's own index, where an `IN` of
        statuses read every record of the group; none for any other filter."""
        among = self._among(lambda item: item.field == ("status",))
        if among is None:
            return ()
        return self._each(among, [Comparison(("status",), "eq", value) for value in dict.fromkeys(among.values)])

    def or_null(self) -> tuple[tuple[str, ...], tuple[ListQuery, ...]] | None:
        """The declared field of the filter's `f in (…, null)`, alone or an item of its `and`, with a query of each of
        its values and one of its null, whose records together are this one's: a store whose index of the field holds
        its nulls reads each from it, in code order, where SQLite read the group's records for `f IN (…) OR f IS
        NULL`. None for any other filter."""
        among = self._among(lambda item: None in item.values and item.field[0] not in META_KINDS)
        if among is None or all(value is None for value in among.values):
            return None
        return among.field, self._each(among, [Comparison(among.field, "eq", v) for v in dict.fromkeys(among.values)])

    @property
    def _items(self) -> tuple[Node, ...]:
        """The conditions of the filter that must all hold: the items of its `and`, or itself."""
        node = self.filter
        return node.items if isinstance(node, And) else () if node is None else (node,)

    def _among(self, chosen: Callable[[In], bool]) -> In | None:
        """The one `in (…)` of the filter, or of the items of its `and`, that is `chosen`; None if there are none or
        several."""
        among = [item for item in self._items if isinstance(item, In) and chosen(item)]
        return among[0] if len(among) == 1 else None

    def _each(self, among: In, nodes: Sequence[Node]) -> tuple[ListQuery, ...]:
        """A query for each of `nodes`, as this one with the node in place of `among`."""
        parts = []
        for one in nodes:
            each = tuple(one if item is among else item for item in self._items)
            parts.append(replace(self, filter=each[0] if len(each) == 1 else And(each)))
        return tuple(parts)

    @property
    def start(self) -> Node | None:
        """Where a page after a `$skiptoken` starts, as a condition the total leaves out (None: at its `offset`)."""
        if self.after is None:
            return None
        if not self.order:
            return Comparison(("code",), "gt", self.after)
        return keyset.after(self.order, self.after_values, self.after)

    @property
    def starts(self) -> tuple[tuple[Node, keyset.Order], ...]:
        """`start` as parts that follow one another in the page's order, each with the order its records come in, so
        that an index on the first sort key reads each from where it starts (`keyset.parts`); none without a token."""
        if self.after is None or not self.order:
            return () if (start := self.start) is None else ((start, self.order),)
        return keyset.parts(self.order, self.after_values, self.after)

    def token(self, last: Record, shown: int) -> str | None:
        """The `$skiptoken` of the page after one that showed `shown` records, `last` the last of them; None if
        its sort values are too long for a link (`keyset.MAX_POSITION`)."""
        where = keyset.position(self.order, last) if self.order else str(last.seq)
        return None if where is None else made_token(where, self.skip + shown)


_FLIPPED = {"gt": "le", "ge": "lt", "lt": "ge", "le": "gt"}
"""Each order comparison and the one true exactly where it is false, for two values neither of them null (SQLite
orders any two such values, of whatever types, one way or the other)."""


STATUSES: frozenset[Value] = frozenset(get_args(Status))
_STATUS_OF: dict[Value, Status] = {status: status for status in get_args(Status)}
_LISTED: frozenset[Value] = frozenset({"ACTIVE", "INACTIVE"})
"""The statuses a listed (not archived) record may have."""

COUNTED_APART: tuple[Status, ...] = ("INACTIVE", "ARCHIVED")
"""The statuses whose records (not merged away) the stores count apart, per group and collection, as every write
changes them: with the count of listed records they give the total of any filter on the status alone. Those of
`ACTIVE` are the listed records less the inactive ones, so the usual write, of an active record, changes none."""


def status_condition(node: Node) -> tuple[Node | None, bool]:
    """`node` with its conditions on `status`, if they are the whole filter or items of its `and` and no other item
    names the status, made the one condition saying which statuses they admit: `status eq` one, `status in (…)` two
    (`status ne 'ACTIVE'` is `status in ('INACTIVE', 'ARCHIVED')`), and none at all where they say no more than that a
    record is listed (`status ne 'ARCHIVED'`, `status in ('ACTIVE', 'INACTIVE')`) or that it may have any status
    (`status ne null`) (None if nothing is left); and whether the page lists archived records (the filter names the
    status and, if any, does not leave them out). A store then counts such records from the kept counts, as for no
    filter (the archived ones too, if listed, kept apart), and pages the inactive and archived ones from their
    statuses' own indexes (`ListQuery.by_status`), where it read every record of the group to test its status."""
    items = node.items if isinstance(node, And) else (node,)
    said = [item for item in items if fields_of(item) == {("status",)}]
    rest = [item for item in items if ("status",) not in fields_of(item)]
    statuses = [found for item in said if (found := _statuses(item)) is not None]
    if not said or len(said) + len(rest) < len(items) or len(statuses) < len(said):
        return node, ("status",) in fields_of(node)
    admitted = frozenset.intersection(*statuses)
    if not admitted:
        return node, True  # no record: left as it is
    if admitted not in (STATUSES, _LISTED):
        ordered = tuple(status for status in get_args(Status) if status in admitted)
        rest.append(Comparison(("status",), "eq", ordered[0]) if len(ordered) == 1 else In(("status",), ordered))
    return None if not rest else rest[0] if len(rest) == 1 else And(tuple(rest)), admitted != _LISTED


def _statuses(node: Node) -> frozenset[Value] | None:
    """The statuses a record has where `node`, a condition on `status` alone, holds (None: one of an order)."""
    if isinstance(node, Comparison):
        if node.op not in ("eq", "ne"):
            return None
        return STATUSES & {node.value} if node.op == "eq" else STATUSES - {node.value}
    if isinstance(node, In):
        return STATUSES & set(node.values)
    if isinstance(node, Not):
        inner = _statuses(node.item)
        return None if inner is None else STATUSES - inner
    parts = [found for item in node.items if (found := _statuses(item)) is not None]
    if len(parts) < len(node.items):
        return None
    return frozenset.union(*parts) if isinstance(node, Or) else frozenset.intersection(*parts)
