"""Integration definitions over HTTP: CRUD by name, every field's validation, the seed's cross-field rules, locks."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.store.base import IdTaken, Transaction
from tests.api.helpers import BASE
from tests.conftest import FIXTURES, Keys, admin_client

URL = f"{BASE}/integrations"


def sample(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "sync" / "integration.json").read_text())
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def test_create_list_get_update_delete_by_name(client: TestClient) -> None:
    created = client.post(URL, json=sample())
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith("/integrations/crm-customers")
    shown = created.json()
    assert shown["webhook"] == {"url": "https://crm.example/hub-webhook"}  # the secret is never shown
    assert shown["batch_size"] == 50 and shown["consented_at"] is None and shown["created_at"].endswith("Z")
    assert client.get(URL).json()["integrations"] == [shown]
    assert client.get(f"{URL}/crm-customers").json() == shown

    changed = client.put(f"{URL}/crm-customers", json={"batch_size": 10, "notes": None})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["batch_size"], changed.json()["notes"], changed.json()["parallel"]) == (10, None, 2)
    assert client.get(f"{URL}/crm-customers").json()["batch_size"] == 10
    reset = client.put(f"{URL}/crm-customers", json={"batch_size": None, "default_schedule": None})  # 422 before
    assert reset.status_code == 200 and (reset.json()["batch_size"], reset.json()["default_schedule"]) == (100, 0)

    assert client.delete(f"{URL}/crm-customers").status_code == 204
    assert client.get(f"{URL}/crm-customers").status_code == 404
    assert client.get(URL).json()["integrations"] == []


def test_defaults_of_a_minimal_definition(client: TestClient) -> None:
    minimal = {"name": "m", "entity": "people", "direction": "inbound", "provider": "erp", "realm": "1"}
    shown = client.post(URL, json=minimal).json()
    assert {k: shown[k] for k in shown if k not in ("created_at", "updated_at")} == {
        **minimal,
        "filter": None,
        "default_schedule": 0,
        "max_attempts": 5,
        "batch_size": 100,
        "parallel": 1,
        "include_update": False,
        "continuous": False,
        "consent_type": "none",
        "managed": False,
        "allow_schedule_change": True,
        "notes": None,
        "webhook": None,
        "consented_at": None,
    }


def test_names_are_unique_in_a_group_not_across_groups(client: TestClient) -> None:
    assert client.post(URL, json=sample()).status_code == 201
    again = client.post(URL, json=sample(notes="again"))
    assert again.status_code == 409 and "crm-customers" in again.json()["detail"]
    assert client.post("/api/v2/other/integrations", json=sample()).status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "a\tb"}, "name"),  # no control character, as the README says
        ({"name": ...}, "name"),
        ({"entity": "invoices"}, "entity"),
        ({"entity": ...}, "entity"),
        ({"direction": "sideways"}, "direction"),
        ({"provider": ""}, "provider"),
        ({"realm": ...}, "realm"),
        ({"filter": "is_customer eq"}, "filter"),
        ({"filter": "colour eq 'red'"}, "filter"),
        ({"filter": "number_of_employees gt '5'"}, "filter"),
        ({"filter": "status eq 'archived'"}, "filter"),
        ({"filter": "updated_at gt 20260101"}, "filter"),  # a number, read as the date 2026-01-01
        ({"default_schedule": -1}, "default_schedule"),
        ({"default_schedule": "60"}, "default_schedule"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"batch_size": 1001}, "batch_size"),
        ({"parallel": True}, "parallel"),
        ({"parallel": 17}, "parallel"),
        ({"include_update": "yes"}, "include_update"),
        ({"consent_type": ""}, "consent_type"),
        ({"consent_type": "x" * 65}, "consent_type"),
        ({"consent_type": "a\x00b"}, "consent_type"),
        ({"managed": 1}, "managed"),
        ({"notes": "x" * 5000}, "notes"),
        ({"webhook": {"url": "ftp://x.example/", "secret": "s" * 16}}, "webhook.url"),
        *(
            ({"webhook": {"url": url, "secret": "s" * 16}}, "webhook.url")
            for url in (
                "http://127.0.0.1:99999/hook",  # each of these was taken, and then every delivery of it raised
                "http://127.0.0.1:abc/",
                "http://127.0.0.1:-1/",
                "http://127.0.0.1:0/",
                "https://x.example/\n",
                "https://x.exa mple/",
                "https://x.example/a\u00a0hook",  # whitespace beyond ASCII's: a no-break space, an ideographic one
                "https://x\u3000y.example/",
            )
        ),
        ({"webhook": {"url": "https://x.example/", "secret": "short"}}, "webhook.secret"),
        ({"webhook": {"url": "https://x.example/"}}, "webhook.secret"),
        ({"colour": "red"}, "colour"),
        # The seed's cross-field rules, and the ones the effects need.
        ({"direction": "inbound"}, "include_update"),
        ({"direction": "inbound", "include_update": False}, "webhook"),
        ({"include_update": False, "continuous": True}, "continuous"),
        ({"continuous": True, "default_schedule": 0}, "default_schedule"),
    ],
)
def test_every_field_is_validated_with_a_422_naming_it(client: TestClient, changes: dict[str, Any], field: str) -> None:
    response = client.post(URL, json=sample(**changes))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


def test_one_422_names_every_wrong_field_the_rules_between_fields_too(client: TestClient) -> None:
    """The README says every wrong field is named in one 422; a field wrong on its own hid the rules between
    fields (and an unknown entity or the hub's own provider), named only once it was put right."""
    body = sample(batch_size=0, entity="nothing", provider="connec", continuous=True, include_update=False)
    response = client.post(URL, json=body)
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["batch_size", "continuous", "entity", "provider"]
    wrong = client.post(URL, json=sample(direction="sideways", entity=7, name="", filter="colour eq 1"))
    assert sorted(e["field"] for e in wrong.json()["errors"]) == ["direction", "entity", "name"]  # nothing judged


def test_an_update_is_validated_like_a_create(client: TestClient) -> None:
    client.post(URL, json=sample())
    assert client.put(f"{URL}/crm-customers", json={"include_update": False, "continuous": True}).status_code == 422
    assert client.put(f"{URL}/crm-customers", json={"name": "renamed"}).status_code == 422
    assert client.put(f"{URL}/crm-customers", json=["not", "an", "object"]).status_code == 422
    assert client.put(f"{URL}/nothing", json={"notes": "x"}).status_code == 404
    assert client.get(f"{URL}/crm-customers").json()["include_update"] is True


def test_an_update_naming_an_unknown_field_is_refused_even_as_null(client: TestClient) -> None:
    """`null` sets a field back to its default; given to a field no integration has, it was dropped with the other
    nulls, and the update answered 200 as if the field were known (a misspelt `notez: null` cleared nothing)."""
    client.post(URL, json=sample())
    refused = client.put(f"{URL}/crm-customers", json={"notez": None, "batch_size": 10})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [{"field": "notez", "message": "unknown field"}], refused.text
    assert client.get(f"{URL}/crm-customers").json()["batch_size"] == 50


def test_a_rename_is_named_in_the_one_422_with_every_other_wrong_field(client: TestClient) -> None:
    """A new `name` was refused alone, before the other fields were looked at: the client put it right and met
    the next 422. The name it was created with, spaces around it or not, is no rename."""
    client.post(URL, json=sample())
    refused = client.put(f"{URL}/crm-customers", json={"name": "renamed", "batch_size": 0, "continuous": True})
    assert refused.status_code == 422, refused.text
    assert sorted(e["field"] for e in refused.json()["errors"]) == ["batch_size", "name"]
    assert client.put(f"{URL}/crm-customers", json={"name": " crm-customers ", "notes": "x"}).status_code == 200


def test_a_webhook_can_be_replaced_and_removed(client: TestClient) -> None:
    client.post(URL, json=sample())
    new = {"url": "http://erp.example:9/hook", "secret": "another-long-secret"}
    assert client.put(f"{URL}/crm-customers", json={"webhook": new}).json()["webhook"] == {"url": new["url"]}
    assert client.put(f"{URL}/crm-customers", json={"webhook": None}).json()["webhook"] is None


def test_an_integration_sent_back_as_read_is_taken_and_changes_nothing(client: TestClient) -> None:
    """The answer's times and its webhook without the secret were a 422 when sent back; a PUT that changed nothing
    moved `updated_at`."""
    client.post(URL, json=sample())
    read = client.get(f"{URL}/crm-customers").json()
    again = client.put(f"{URL}/crm-customers", json=read)
    assert again.status_code == 200, again.text
    assert again.json() == read  # updated_at included
    edited = client.put(f"{URL}/crm-customers", json={**read, "batch_size": 7})
    assert edited.status_code == 200, edited.text
    assert edited.json()["batch_size"] == 7 and edited.json()["updated_at"] != read["updated_at"]
    assert edited.json()["created_at"] == read["created_at"] and edited.json()["webhook"] == read["webhook"]


def test_an_integration_as_read_is_taken_by_a_post_too(client: TestClient) -> None:
    """Copied as read to another group (or name), its times were unknown fields, a 422: they are the hub's, passed
    over, and the copy has its own; a webhook, read without its secret, still needs it."""
    client.post(URL, json=sample(webhook=None, consent_type="gdpr"))
    assert client.post(f"{URL}/crm-customers/consent").status_code == 200
    read = client.get(f"{URL}/crm-customers").json()
    assert read["consented_at"] is not None
    copied = client.post(URL, json={**read, "name": "copy"})
    assert copied.status_code == 201, copied.text
    assert copied.json()["created_at"] != read["created_at"] and copied.json()["consented_at"] is None
    assert {k: v for k, v in copied.json().items() if not k.endswith("_at")} == {
        **{k: v for k, v in read.items() if not k.endswith("_at")},
        "name": "copy",
    }
    with_webhook = client.post(URL, json={**sample(), "name": "hooked"})
    refused = client.post(URL, json={**with_webhook.json(), "name": "hooked-copy"})
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["webhook.secret"]


def test_a_webhook_sent_without_its_secret_keeps_it_only_at_the_same_url(client: TestClient) -> None:
    client.post(URL, json=sample())
    moved = client.put(f"{URL}/crm-customers", json={"webhook": {"url": "https://other.example/hook"}})
    assert moved.status_code == 422 and moved.json()["errors"][0]["field"] == "webhook.secret", moved.text
    assert client.get(f"{URL}/crm-customers").json()["webhook"] == {"url": "https://crm.example/hub-webhook"}


def test_a_managed_integration_only_lets_its_schedule_change_unless_overridden(client: TestClient) -> None:
    client.post(URL, json=sample(managed=True))
    assert client.put(f"{URL}/crm-customers", json={"default_schedule": 60}).status_code == 200
    refused = client.put(f"{URL}/crm-customers", json={"batch_size": 1, "managed": False})
    assert refused.status_code == 409 and refused.json()["fields"] == ["batch_size", "managed"]
    assert client.delete(f"{URL}/crm-customers").status_code == 409
    assert client.put(f"{URL}/crm-customers?override=true", json={"batch_size": 1}).status_code == 200
    assert client.delete(f"{URL}/crm-customers?override=maybe").status_code == 400
    assert client.delete(f"{URL}/crm-customers?override=true").status_code == 204


def test_only_an_admin_key_may_override_the_locks(client: TestClient, keys: Keys) -> None:
    """An app's key lifted the operator's `managed` lock with `?override=true`, to change or delete."""
    crm = keys.app("crm", cld_1="2243")
    client.post(URL, json=sample(provider="crm", managed=True, allow_schedule_change=False))
    for response in (
        client.put(f"{URL}/crm-customers?override=true", json={"batch_size": 1}, headers=crm),
        client.put(f"{URL}/crm-customers?override=true", json={"default_schedule": 60}, headers=crm),
        client.delete(f"{URL}/crm-customers?override=true", headers=crm),
    ):
        assert response.status_code == 403 and response.headers["content-type"] == "application/problem+json"
        assert "override=true" in response.json()["detail"] and "admin" in response.json()["detail"]
    assert client.get(f"{URL}/crm-customers", headers=crm).json()["batch_size"] == 50
    assert client.put(f"{URL}/crm-customers?override=false", json={"notes": "x"}, headers=crm).status_code == 409
    assert client.put(f"{URL}/crm-customers?override=true", json={"batch_size": 1}).status_code == 200
    assert client.delete(f"{URL}/crm-customers?override=true").status_code == 204


def test_only_an_admin_key_may_make_an_integration_managed(client: TestClient, keys: Keys) -> None:
    """`managed` is the operator's lock: an app's key that set it on its own integration could change or delete
    that integration no more, without the admin."""
    crm = keys.app("crm", cld_1="2243")
    made = client.post(URL, json=sample(provider="crm", managed=True), headers=crm)
    assert made.status_code == 403 and made.headers["content-type"] == "application/problem+json"
    assert "managed" in made.json()["detail"] and "admin" in made.json()["detail"]
    assert client.post(URL, json=sample(provider="crm"), headers=crm).status_code == 201
    assert client.put(f"{URL}/crm-customers", json={"managed": True}, headers=crm).status_code == 403
    assert client.get(f"{URL}/crm-customers", headers=crm).json()["managed"] is False
    assert client.put(f"{URL}/crm-customers", json={"managed": True}).json()["managed"] is True
    read = client.get(f"{URL}/crm-customers", headers=crm).json()
    echoed = {**{k: v for k, v in read.items() if k in ("managed", "default_schedule")}, "default_schedule": 60}
    assert client.put(f"{URL}/crm-customers", json=echoed, headers=crm).status_code == 200  # managed as it was


def test_allow_schedule_change_false_locks_the_schedule(client: TestClient) -> None:
    client.post(URL, json=sample(allow_schedule_change=False))
    refused = client.put(f"{URL}/crm-customers", json={"default_schedule": 60})
    assert refused.status_code == 409 and "schedule" in refused.json()["detail"]
    assert client.put(f"{URL}/crm-customers", json={"default_schedule": 3600, "notes": "same"}).status_code == 200
    assert client.put(f"{URL}/crm-customers?override=true", json={"default_schedule": 60}).status_code == 200
    # Not managed: the group may lift the lock itself, then change the schedule.
    assert client.put(f"{URL}/crm-customers", json={"allow_schedule_change": True}).status_code == 200
    assert client.put(f"{URL}/crm-customers", json={"default_schedule": 5}).json()["default_schedule"] == 5


def test_a_null_to_a_field_without_a_default_is_refused_as_such(client: TestClient) -> None:
    """A null sets a field back to its default; `name`, `entity`… have none, and were answered "Field required", as if
    the update had to give them."""
    client.post(URL, json=sample())
    refused = client.put(f"{URL}/crm-customers", json={"name": None, "provider": None, "batch_size": None})
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["name", "provider"]
    assert all("has none" in e["message"] for e in refused.json()["errors"])
    assert client.put(f"{URL}/crm-customers", json={"batch_size": None}).json()["batch_size"] == 100  # its default


def test_unknown_group_and_name(client: TestClient) -> None:
    assert client.get(URL).status_code == 404
    client.post(URL, json=sample())
    assert client.get(f"{URL}/nope").status_code == 404
    assert client.delete(f"{URL}/nope").status_code == 404
    assert client.get(f"{URL}?x=1").status_code == 400


def test_an_app_lists_only_its_own_integrations(client: TestClient, keys: Keys) -> None:
    """The list showed an app every app's integrations of the group, webhook URLs included, though each one alone
    answers another app 403."""
    crm, erp = keys.app("crm", cld_1="2243"), keys.app("erp", cld_1="77")
    webhook = {"url": "https://erp.example/hook?token=s3cret", "secret": "x" * 16}
    assert client.post(URL, json=sample(name="crm-sync", provider="crm", realm="2243")).status_code == 201
    erp_sync = sample(name="erp-sync", provider="erp", realm="77", webhook=webhook)
    assert client.post(URL, json=erp_sync).status_code == 201
    for headers, names in ((crm, ["crm-sync"]), (erp, ["erp-sync"]), ({}, ["crm-sync", "erp-sync"])):
        listed = client.get(URL, headers=headers)
        assert [i["name"] for i in listed.json()["integrations"]] == names, listed.text
    assert "s3cret" not in client.get(URL, headers=crm).text


@pytest.mark.parametrize("name", ["sync €", "a b?c#d%e", "100%"])
def test_the_location_of_any_name_is_the_integrations_url(client: TestClient, name: str) -> None:
    """`€` made the Location header fail after the integration was written (a 500 that wrote), and `?`, `#`, `%`
    led a client following it elsewhere: the name is percent-encoded."""
    created = client.post(URL, json=sample(name=name))
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    assert client.get(location).json()["name"] == name
    assert client.post(f"{location}/consent").status_code == 200  # every route of it reads the name alike
    assert client.put(location, json={"notes": "x"}).json()["notes"] == "x"
    assert client.delete(location).status_code == 204


def test_the_hubs_own_provider_is_no_app_to_integrate(client: TestClient) -> None:
    """Key links and connect refuse the hub's provider name; an integration took it."""
    refused = client.post(URL, json=sample(provider="connec"))
    assert refused.status_code == 422 and "provider" in [e["field"] for e in refused.json()["errors"]], refused.text
    assert client.post(URL, json=sample()).status_code == 201
    assert client.put(f"{URL}/crm-customers", json={"provider": "connec"}).status_code == 422


@pytest.mark.parametrize("name", [".", ".."])
def test_a_name_a_url_path_drops_is_refused(client: TestClient, name: str) -> None:
    """`.` and `..` were taken, and their Location led to the list, or nowhere: clients drop such segments."""
    refused = client.post(URL, json=sample(name=name))
    assert refused.status_code == 422 and "name" in [e["field"] for e in refused.json()["errors"]], refused.text


@pytest.mark.parametrize("name", ["a/b", "a\tb", "/", "a\x1fb", "a\x7fb", "a\x85b", "a\x9bb", "ab\t", "\x85ab", "ab\n"])
def test_a_name_with_a_slash_or_a_control_character_is_refused_in_words(client: TestClient, name: str) -> None:
    """The refusal was the regular expression behind it, `String should match pattern '^[^/\\x00-\\x1f]+$'`; and a
    control character at either end was dropped with the surrounding spaces, the name taken without it."""
    refused = client.post(URL, json=sample(name=name))
    assert refused.status_code == 422, refused.text
    message = "must not hold '/' or a control character (U+0000 to U+001F, U+007F to U+009F)"
    assert refused.json()["errors"] == [{"field": "name", "message": message}], refused.text


def test_an_integration_stored_with_a_filter_of_another_type_is_still_updated(client: TestClient, keys: Keys) -> None:
    """A filter comparing a field with a value of another type is refused since 6950797, but one stored before is
    kept and evaluated: an update leaving it as it is (a managed integration's schedule, which is all it may change)
    was a 422 on that filter, so the integration could not be touched without rewriting it."""
    client.post(URL, json=sample(managed=True))

    async def store_old_filter() -> None:
        async with keys.store.transaction("cld-1") as tx:
            integration = await tx.integration("crm-customers")
            assert integration is not None
            integration.definition = integration.definition.model_copy(update={"filter": "is_customer eq 1"})
            await tx.put_integration(integration, new=False)

    keys.run(store_old_filter)
    changed = client.put(f"{URL}/crm-customers", json={"default_schedule": 60})
    assert changed.status_code == 200, changed.text
    assert changed.json()["filter"] == "is_customer eq 1"
    mistyped = client.put(f"{URL}/crm-customers?override=true", json={"filter": "is_customer eq 0"})
    assert mistyped.status_code == 422 and mistyped.json()["errors"][0]["field"] == "filter"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://api.localhost./hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a01:203]/hook",  # NAT64 of 10.1.2.3
        "http://[64:ff9b:1::5db8:d822]/hook",  # a network's own NAT64 prefix
        "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[::ffff:0:127.0.0.1]/hook",  # IPv4-translated
        "http://224.0.0.1/hook",  # multicast: Python 3.11 counts these global
        "http://[ff02::1]/hook",
        # The older forms of an IPv4 address, which the resolver reads as the address before any lookup.
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://0x7f000001/hook",
        "http://0177.0.0.1/hook",
        "http://10.1.515/hook",
    ],
)
def test_a_webhook_on_the_hubs_own_machine_or_network_is_refused(client: TestClient, url: str) -> None:
    """An app's key could make the hub POST into the network it runs in (`HUB_WEBHOOK_LOCAL_NETWORK` allows it)."""
    made = client.post(URL, json=sample(webhook={"url": url, "secret": "s" * 16}))
    assert made.status_code == 422 and made.json()["errors"][0]["field"] == "webhook.url", made.text
    assert "own machine or network" in made.json()["detail"]
    assert client.post(URL, json=sample()).status_code == 201
    moved = client.put(f"{URL}/crm-customers", json={"webhook": {"url": url, "secret": "s" * 16}})
    assert moved.status_code == 422 and client.get(f"{URL}/crm-customers").json()["webhook"]["url"] != url


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://user:pass@example.com/hook", "user or password"),
        ("https://user@example.com/hook", "user or password"),
        ("https://:pass@example.com/hook", "user or password"),
        ("https://example.com/hook#app-1", "fragment"),
        ("https://example.com/hook#", "fragment"),
    ],
)
def test_a_webhook_url_holding_credentials_or_a_fragment_is_refused(client: TestClient, url: str, said: str) -> None:
    """A user and password in the URL were taken and shown back in every answer, to the app's key too, where the
    webhook's secret is never shown: the hub signs each POST with the secret. A fragment was taken and never sent
    (an app telling its integrations apart by one got every POST alike)."""
    made = client.post(URL, json=sample(webhook={"url": url, "secret": "s" * 16}))
    assert made.status_code == 422 and made.json()["errors"][0]["field"] == "webhook.url", made.text
    assert said in made.json()["detail"]


def test_a_definition_stored_before_a_rule_refusing_it_is_still_read(tmp_path: Path) -> None:
    """Definitions were checked again as they were read: one a later rule refuses (a webhook URL with a fragment,
    stored by an earlier hub) failed every read of the group's integrations and every write of its entity (a 500).
    Read, it is taken as stored; changed, the new definition meets today's rules."""
    settings = Settings(store=f"sqlite:///{tmp_path / 'hub.db'}")
    hooked = sample(entity="organizations", webhook={"url": "https://example.com/hook", "secret": "s" * 16})
    with admin_client(create_app(settings)) as client:
        assert client.post(URL, json=hooked).status_code == 201
    with sqlite3.connect(tmp_path / "hub.db") as conn:
        definition = json.loads(conn.execute("SELECT definition FROM integrations").fetchone()[0])
        definition["webhook"]["url"] = "https://example.com/hook#crm"
        conn.execute("UPDATE integrations SET definition = ?", (json.dumps(definition),))
    with admin_client(create_app(settings)) as client:
        listed = client.get(URL)
        assert listed.status_code == 200 and listed.json()["integrations"][0]["webhook"]["url"].endswith("#crm")
        assert client.post(f"{BASE}/organizations", json={"organizations": {"name": "Acme"}}).status_code == 201
        changed = client.put(f"{URL}/{hooked['name']}", json={"batch_size": 10})
        assert changed.status_code == 422 and "fragment" in changed.json()["detail"], changed.text


def test_a_webhook_on_the_internet_is_taken_by_its_address_too(client: TestClient) -> None:
    made = client.post(URL, json=sample(webhook={"url": "http://93.184.216.34:8080/hook", "secret": "s" * 16}))
    assert made.status_code == 201, made.text


def test_an_integration_creates_its_group_whose_lists_are_empty(client: TestClient) -> None:
    """README's Words: a group is created by its first integration too; read, it is empty, not a 404."""
    assert client.get("/api/v2/cld-new/people").status_code == 404
    assert client.post("/api/v2/cld-new/integrations", json=sample()).status_code == 201
    assert client.get("/api/v2/cld-new/people").json() == {
        "people": [],
        "pagination": {"skip": 0, "top": 100, "total": 0},
    }


def test_a_write_that_loses_its_group_s_turn_is_run_again_as_every_write_is(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MongoDB reports a lost race (the group's turn held elsewhere past its wait, a write conflict) as IdTaken: a
    create answered it `409 … exists already` of a name nobody held, an update, a delete and a consent a 500."""
    store = client.app.state.store  # type: ignore[attr-defined]
    lost: list[str] = []

    def lose_once(group_id: str) -> None:
        if group_id not in lost:
            lost.append(group_id)
            raise IdTaken("another process holds the group's turn")

    transaction, run_transaction = store.transaction, getattr(store, "run_transaction", None)

    @asynccontextmanager
    async def losing(group_id: str) -> AsyncIterator[Transaction]:
        lose_once(group_id)
        async with transaction(group_id) as tx:
            yield tx

    async def run_losing(group_id: str, work: Any) -> Any:
        lose_once(group_id)
        return await run_transaction(group_id, work)

    monkeypatch.setattr(store, "transaction", losing)
    if run_transaction is not None:
        monkeypatch.setattr(store, "run_transaction", run_losing)
    writes = [
        lambda: client.post(URL, json=sample()),
        lambda: client.put(f"{URL}/crm-customers", json={"batch_size": 10}),
        lambda: client.post(f"{URL}/crm-customers/consent"),
        lambda: client.delete(f"{URL}/crm-customers"),
    ]
    for write in writes:
        lost.clear()
        answer = write()
        assert answer.status_code in (200, 201, 204) and lost, answer.text
    assert client.get(URL).json()["integrations"] == []


def test_a_write_that_loses_every_try_says_so_without_naming_ids(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its tries a write answered "the ids of these records kept changing under concurrent writes", whatever it
    wrote: an integration holds no ids, and a MongoDB connection lost mid-write ends the same way."""
    assert client.post(URL, json=sample()).status_code == 201
    store = client.app.state.store  # type: ignore[attr-defined]

    @asynccontextmanager
    async def losing(group_id: str) -> AsyncIterator[Transaction]:
        raise IdTaken("another process holds the group's turn")
        yield  # pragma: no cover

    async def run_losing(group_id: str, work: Any) -> Any:
        raise IdTaken("another process holds the group's turn")

    monkeypatch.setattr(store, "transaction", losing)
    if getattr(store, "run_transaction", None) is not None:
        monkeypatch.setattr(store, "run_transaction", run_losing)
    answer = client.put(f"{URL}/crm-customers", json={"batch_size": 10})
    assert answer.status_code == 409, answer.text
    assert answer.json()["detail"] == "the write met concurrent writes (or lost the store) on every try; try again"
