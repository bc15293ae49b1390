"""Checks the merge record (its JSON round trip) and what undoing a merge leaves on the survivor."""

from __future__ import annotations

from typing import Any

from hub.model.history import Match, MergeEntry, Snapshot, Undo, unmerged_survivor
from hub.model.ids import ExternalId
from hub.model.record import Record

SF = ExternalId("salesforce", "eu", "a")
HS = ExternalId("hubspot", "7", "b")


def record(hub_id: str, fields: dict[str, Any], ids: list[ExternalId], status: str = "ACTIVE") -> Record:
    return Record(hub_id, "g", "organizations", 1, status, "2020-01-01", "2020-01-02", fields, ids)


def entry(before: list[Record], after: Record) -> MergeEntry:
    return MergeEntry(
        "m1",
        "g",
        "organizations",
        "2020-01-03",
        "anonymous",
        "request",
        [Match(r.hub_id, list(r.ids)) for r in before],
        {"notes": "chosen"},
        [Snapshot.of(r, ["old"] if i else []) for i, r in enumerate(before)],
        Snapshot.of(after),
    )


def sample() -> tuple[MergeEntry, Record]:
    a = record("A", {"name": "Acme", "notes": "a"}, [SF])
    b = record("B", {"name": "Acme Inc", "industry": "Tech"}, [HS])
    after = record("A", {"name": "Acme", "notes": "chosen", "industry": "Tech"}, [SF, HS])
    return entry([a, b], after), after


def test_an_entry_survives_its_json_form() -> None:
    merge, _ = sample()
    merge.undone = Undo("2020-01-04", "app:x")
    assert MergeEntry.from_json(merge.as_json()) == merge
    assert merge.survivor == "A" and merge.merged == ["B"] and merge.members == ["A", "B"]
    assert merge.moves() == [(HS, "B", "A")]


def test_an_untouched_survivor_goes_back_to_what_it_was() -> None:
    merge, after = sample()
    undone = unmerged_survivor(merge, after)
    assert undone.fields == {"name": "Acme", "notes": "a"}
    assert undone.status == "ACTIVE"


def test_changes_since_the_merge_are_kept() -> None:
    merge, _ = sample()
    current = record("A", {"name": "Renamed", "notes": "chosen", "industry": "Tech", "phone": {"fax": "1"}}, [SF, HS])
    current.status = "INACTIVE"
    current.placeholder = True
    undone = unmerged_survivor(merge, current)
    assert undone.fields == {"name": "Renamed", "notes": "a", "phone": {"fax": "1"}}
    assert undone.status == "INACTIVE"
    assert undone.placeholder is True


def test_a_placeholder_survivor_is_one_again_when_untouched() -> None:
    a = record("A", {}, [SF])
    a.placeholder = True
    b = record("B", {"name": "Acme"}, [HS])
    after = record("A", {"name": "Acme"}, [SF, HS])
    merge = entry([a, b], after)
    assert unmerged_survivor(merge, after).placeholder is True
    assert unmerged_survivor(merge, record("A", {"name": "Other"}, [SF, HS])).placeholder is False


def test_a_snapshot_restores_the_record_live() -> None:
    merge, _ = sample()
    restored = merge.before[1].restored("g", "organizations", "2020-01-05")
    assert restored.merged_into is None and restored.ids == [HS]
    assert restored.fields == {"name": "Acme Inc", "industry": "Tech"}
    assert (restored.created_at, restored.updated_at) == ("2020-01-01", "2020-01-05")
    assert merge.before[1].aliases == ["old"]
