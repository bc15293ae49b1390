"""The stored records a run starts from: people p0…p(n-1) of one app, loaded with `hub import`.

Built once per size and schema into the cache folder, then copied for each run (the runs write to it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from hub.store import sqlite_counts
from hub.store.sqlite_query import SCHEMA

GROUP = "bench-group"
PROVIDER = "bench-app"
REALM = "2243"
VERSION = 1
"""Bump when the generated records change, so cached data sets are rebuilt."""

_CITIES = ("Lyon", "Porto", "Leeds", "Graz", "Turku", "Ghent", "Bergen", "Cork")


def people(count: int) -> Iterator[dict[str, object]]:
    """Deterministic people with a realistic spread of fields, keyed by the app ids p0, p1, …"""
    for i in range(count):
        yield {
            "id": [{"realm": REALM, "provider": PROVIDER, "id": f"p{i}"}],
            "title": ("Mr.", "Ms.", "Dr.")[i % 3],
            "first_name": f"First{i}",
            "last_name": f"Last{i % 9973}",
            "job_title": "Engineer",
            "email": {"address": f"person{i}@example.com"},
            "phone": {"landline": f"+33 4 {i % 100:02d} {i % 10000:04d}"},
            "address": {"line1": f"{i % 500} Main Street", "city": _CITIES[i % len(_CITIES)], "country": "FR"},
        }


def cached(count: int, cache: Path) -> Path:
    made_by = f"{VERSION}{SCHEMA}{sqlite_counts.SCHEMA}{sqlite_counts.LINK_SCHEMA}"
    key = hashlib.sha256(made_by.encode()).hexdigest()[:10]
    return cache / f"people-{count}-{key}.db"


def prepare(count: int, cache: Path, rebuild: bool = False) -> tuple[Path, float | None]:
    """The cached data set of `count` people, built first if missing: (path, seconds the build took or None)."""
    path = cached(count, cache)
    if path.exists() and not rebuild:
        return path, None
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob(f"people-{count}-*"):
        stale.unlink()
    source = cache / f"people-{count}.jsonl"
    building = path.with_suffix(".building")
    for leftover in cache.glob(f"{building.name}*"):
        leftover.unlink()
    with source.open("wb") as out:
        for person in people(count):
            out.write(orjson.dumps(person) + b"\n")
    print(f"building the data set of {count:,} people with `hub import`", file=sys.stderr)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "import", "--group", GROUP, "--store", f"sqlite:///{building}", str(source)],
        stdout=subprocess.PIPE,
        text=True,
    )
    took = time.monotonic() - started
    source.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"hub import failed ({done.returncode}): {done.stdout}")
    print(f"built in {took:.1f} s: {done.stdout.strip()}", file=sys.stderr)
    building.rename(path)
    return path, took


def copy_for_run(source: Path, folder: Path) -> Path:
    """A copy of the data set for one round, on disk before the hub opens it.

    Left to the kernel, the 1.2 GB of a fresh 1M copy were still being written back when the hub's
    first checkpoint synced the file, in the middle of the first write measured (p99 of single
    upserts at 1M 114-594 ms in some rounds, 18-35 ms in others).
    """
    target = folder / source.name
    shutil.copyfile(source, target)
    with target.open("rb") as copied:
        os.fsync(copied.fileno())
    return target
