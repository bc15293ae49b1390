"""Fuzzes a running hub from its own /openapi.json: no 5xx, every response as described, every error problem+json.

Operations one by one, then sequences of calls chained by the description's links.

The description is loaded when the module is (schemathesis' fixture-based loader
does not work with this pytest), and a test checks that the server serves that
very description.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.api.openapi import document
from hub.config import Settings
from tests.e2e.server import Server, start_in_thread

EXAMPLES = 10
"""Per operation, valid and invalid input mixed: some 40 operations make about 400 requests, some 15 s."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with start_in_thread(Path(tmp_path_factory.mktemp("fuzz")) / "hub.db") as running:
        yield running


SETTINGS = Settings()
CONFIG = schemathesis.Config.from_dict(
    {"phases": {"coverage": {"enabled": False}, "stateful": {"inference": {"algorithms": []}}}}
)
"""Random examples only: the coverage phase alone sends some 3,000 requests, past the time budget. Sequences
follow the description's own links (a record, key link or integration created, then used): links inferred
besides them would make reading the integration systems the only way in."""
schema = schemathesis.openapi.from_dict(document(SETTINGS), config=CONFIG)


def test_the_server_serves_the_description_that_is_fuzzed(server: Server) -> None:
    assert httpx2.get(f"{server.url}/openapi.json").json() == document(SETTINGS)


def errors_are_problems(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is RFC 9457 problem+json with its own status in it."""
    if response.status_code >= 400:
        assert response.headers["content-type"][0] == "application/problem+json", response.headers
        body = response.json()
        assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == response.status_code, body
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    errors_are_problems,
]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_api_answers_as_described(case: Any, server: Server) -> None:
    case.call_and_validate(base_url=server.url, headers={"Authorization": f"Bearer {server.admin}"}, checks=CHECKS)


SEQUENCES = 30
"""Call sequences of up to 8 steps, each call fed by what an earlier one answered (some 5 s)."""
Workflow: Any = schema.as_state_machine()
"""Sequences along the description's links: a record created, then read, updated, merged, connected…"""


def test_sequences_of_calls_answer_as_described(server: Server) -> None:
    groups = itertools.count()

    class Calls(Workflow):  # type: ignore[misc,valid-type]
        """Each sequence in a group of its own, so that it meets the same state every time it runs.

        Hypothesis replays sequences while it explores; on a shared group a replayed create would find its
        record and answer 200 instead of 201, change which calls can follow, and hypothesis would stop with
        FlakyStrategyDefinition instead of exploring.
        """

        def setup(self) -> None:
            self.group = f"sequence-{next(groups)}"

        def before_call(self, case: Any) -> None:
            case.path_parameters["group_id"] = self.group
            held = case.path_parameters.get("id")
            if isinstance(held, list):  # an id array (CONNEC-EXTERNAL-IDS: true): a client takes the hub's id
                hub = [e["id"] for e in held if isinstance(e, dict) and e.get("provider") == SETTINGS.hub_provider]
                case.path_parameters["id"] = hub[0] if hub else held

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": server.url, "headers": {"Authorization": f"Bearer {server.admin}"}}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    assert {"POST /api/v2/{group_id}/people -> 201", "POST /api/v2/{group_id}/key_links -> 201"} <= set(Calls.bundles)
    Calls.run(
        settings=settings(
            max_examples=SEQUENCES,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
