"""docker-compose.yml parses and wires the hub to MongoDB as a replica set (no Docker engine runs the tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

COMPOSE = Path(__file__).parent.parent / "docker-compose.yml"


def test_mongodb_runs_as_a_replica_set_that_the_hub_waits_for_and_names() -> None:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    mongo, hub = services["mongo"], services["hub"]
    assert mongo["command"][mongo["command"].index("--replSet") + 1] == "rs0"
    initiate = mongo["healthcheck"]["test"][-1]
    assert 'rs.initiate({_id: "rs0", members: [{_id: 0, host: "mongo:27017"}]})' in initiate
    assert hub["depends_on"]["mongo"]["condition"] == "service_healthy"
    url = urlsplit(hub["command"][hub["command"].index("--store") + 1])
    assert (url.scheme, url.netloc, url.path) == ("mongodb", "mongo:27017", "/hub")
    assert parse_qs(url.query)["replicaSet"] == ["rs0"]
    assert (Path(__file__).parent.parent / hub["build"] / "Dockerfile").is_file()
