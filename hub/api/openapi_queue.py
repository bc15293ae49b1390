"""The OpenAPI description of an outbound queue: its paths, the items it hands out, and the webhook that POSTs them.

An app's sync loop reads these answers more than any other: typed, a client generated from the description
reads `matches`, `details` and `record` as the hub sends them, not as a bare object.
"""

from __future__ import annotations

from typing import Any, get_args

from hub.api.openapi_parts import (
    GROUP,
    NAME,
    NO_BODY_WRITE_ERRORS,
    REF,
    TIME,
    WRITE_ERRORS,
    json_body,
    param,
    responses,
    schema_ref,
    shown,
)
from hub.api.queue import LeaseIn, RetryIn, SettleIn
from hub.config import Settings
from hub.model.change import Kind
from hub.model.collections import COLLECTIONS
from hub.model.numbers import MAX_WHOLE

KIND = {"enum": list(get_args(Kind))}
TEXT = {"type": "string"}
NUMBERS = {"type": "array", "items": {"type": "integer"}}

_CHANGE = {
    "item": {"type": "integer", "description": "its number in the queue: ack, fail or retry it by this"},
    "kind": KIND,
    "cursor": {**TEXT, "description": "the change feed's cursor of the change that enqueued it"},
    "changed_at": TIME,
    "collection": {"enum": list(COLLECTIONS)},
    "details": {
        **schema_ref("ChangeDetails"),
        "description": "the change's, as the feed shows them (a resend's: `{}`)",
    },
}
"""What every item says of the change that enqueued it, handed out or dead."""


def _schemas(schemas: dict[str, Any], settings: Settings) -> None:
    for model in (LeaseIn, SettleIn, RetryIn):
        schemas[model.__name__] = model.model_json_schema(ref_template=REF)
    seconds = schemas["LeaseIn"]["properties"]["seconds"]["anyOf"][0]
    seconds["maximum"] = settings.max_lease_seconds  # the running hub's setting, checked by the endpoint
    item = {
        **_CHANGE,
        "attempt": {"type": "integer", "minimum": 1, "description": "1 on its first try"},
        "matches": {
            "type": "boolean",
            "description": "whether the integration's filter matches `record` as handed out (always, without one;"
            " never, a placeholder): false, the app keeps no copy of it",
        },
        "record": {
            "anyOf": [schema_ref(f"{name.title()}Record") for name in COLLECTIONS],
            "description": "as it is now (a merged-away record as its survivor), with id arrays, without the fields"
            " that do not sync to the app",
        },
    }
    schemas["QueueItem"] = shown(item)
    items = {"type": "array", "items": schema_ref("QueueItem")}
    lease = {"lease": TEXT, "expires_at": TIME, "items": items}
    schemas["Lease"] = shown(lease)
    batch = {"group_id": TEXT, "integration": TEXT, "lease": TEXT, "items": items}
    schemas["WebhookBatch"] = shown(batch)
    dead = {
        **_CHANGE,
        "id": {**TEXT, "description": "the hub id of its record"},
        "attempts": {"type": "integer"},
        "last_error": {"type": ["string", "null"]},
    }
    schemas["DeadItem"] = shown(dead)


def _settled(done: str) -> dict[str, Any]:
    """An ack's, fail's or retry's answer: the items it took (`done`), and why it refused the others."""
    refused = {"type": "array", "items": shown({"item": {"type": "integer"}, "reason": TEXT})}
    return shown({done: NUMBERS, "refused": refused})


def paths(settings: Settings, schemas: dict[str, Any]) -> dict[str, Any]:
    """The queue's paths; adds the schemas they use to `schemas`."""
    _schemas(schemas, settings)
    base = "/api/v2/{group_id}/integrations/{name}"

    def operation(op: str, summary: str, body: str | None, answer: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "operationId": op,
            "tags": ["sync"],
            "summary": summary,
            # without a body, the dead list: it settles the leases that ran out first, a write
            "responses": responses({200: ("done", answer)}, WRITE_ERRORS if body is not None else NO_BODY_WRITE_ERRORS),
        }
        if body is not None:
            out["requestBody"] = {"required": body == "SettleIn", **json_body(schema_ref(body))}
        return out

    dead = shown(
        {
            "dead": {"type": "array", "items": schema_ref("DeadItem")},
            "more": {"type": "boolean", "description": "whether dead items follow the last: ask again from it"},
        }
    )
    window = [
        param("after", "query", {"type": "integer", "minimum": 0, "maximum": MAX_WHOLE}, "items numbered above this"),
        param("limit", "query", {"type": "integer", "minimum": 1, "maximum": settings.max_top}, "how many"),
    ]
    return {
        base + "/lease": {
            "parameters": [GROUP, NAME],
            "post": operation("lease", "Lease a batch of the queue's items", "LeaseIn", schema_ref("Lease")),
        },
        base + "/ack": {
            "parameters": [GROUP, NAME],
            "post": operation("ack", "Ack leased items", "SettleIn", _settled("acked")),
        },
        base + "/fail": {
            "parameters": [GROUP, NAME],
            "post": operation("fail", "Fail leased items; they come back later", "SettleIn", _settled("failed")),
        },
        base + "/dead": {
            "parameters": [GROUP, NAME],
            "get": {
                **operation("list_dead", "The items past max_attempts", None, dead),
                "parameters": window,
            },
        },
        base + "/dead/retry": {
            "parameters": [GROUP, NAME],
            "post": operation("retry_dead", "Put dead items back in the queue", "RetryIn", _settled("retried")),
        },
    }


def webhooks() -> dict[str, Any]:
    """The POST an integration with a `webhook` receives (OpenAPI 3.1 `webhooks`)."""
    headers = [
        ("X-Hub-Signature-256", "`sha256=` and the hex HMAC-SHA256 of the raw body, keyed with webhook.secret"),
        ("X-Hub-Integration", "the integration's name, percent-encoded"),
        ("X-Hub-Delivery", "the lease id, as `lease` in the body"),
    ]
    return {
        "queue": {
            "post": {
                "operationId": "webhook_delivery",
                "tags": ["sync"],
                "summary": "A batch of an integration's queue, POSTed to its webhook.url",
                "security": [],  # no key: X-Hub-Signature-256 signs the body with webhook.secret
                "parameters": [{**param(name, "header", TEXT, text), "required": True} for name, text in headers],
                "requestBody": {"required": True, **json_body(schema_ref("WebhookBatch"))},
                "responses": {
                    "2XX": {"description": "every item of the batch delivered (the answer's body is not read)"},
                    "413": {
                        "description": "too large: the items are sent again at once in smaller batches (half as many"
                        " each, down to one), no try counted; a batch of one item answered 413 fails as `default`"
                    },
                    "429": {
                        "description": "later: a try counted, the items come back after `Retry-After` or their backoff,"
                        " whichever is later, and the integration is sent nothing else until then"
                    },
                    "503": {"description": "later, as 429"},
                    "default": {
                        "description": "not delivered (a 413 of one item too): each item comes back after its backoff,"
                        " or is dead"
                    },
                },
            }
        }
    }
