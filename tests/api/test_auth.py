"""Keys and tenancy: both credential forms, 401s, revocation, unconnected groups as missing, and 403 for others' ids."""

from __future__ import annotations

import base64
import logging
import time

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from hub.api.auth import check_routes
from hub.model.access import ApiKey, Connection, hash_secret
from hub.model.key_link import stable_id
from hub.service.access import Authenticator
from tests.api.helpers import IDS, ext
from tests.conftest import Keys

PEOPLE = "/api/v2/cld-1/people"


def person(*ids: dict[str, str], **fields: object) -> dict[str, object]:
    return {"people": {"id": list(ids), **fields}}


def test_bearer_and_basic_both_authenticate(client: TestClient, keys: Keys) -> None:
    made = keys.new("crm", cld_1="2243")
    basic = base64.b64encode(f"{made.key.key_id}:{made.secret}".encode()).decode()
    for header in (f"Bearer {made.token}", f"Basic {basic}", f"bearer  {made.token} "):
        created = client.post(PEOPLE, json=person(ext("crm", "1")), headers={"Authorization": header})
        assert created.status_code in (200, 201), created.text


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "needs an API key"),
        ("Bearer nodot", "malformed"),
        ("Basic not-base64!", "malformed"),
        ("Basic \xe9", "malformed"),  # not ASCII: base64 raised a ValueError of its own (a 500)
        ("Basic " + base64.b64encode(b"no-colon").decode(), "malformed"),
        ("Digest abc", "malformed"),
        ("Bearer hk_0123456789abcdef.wrong", "unknown or revoked"),
        ("Bearer x" * 100, "malformed"),
        ("Bearer hk_0123456789abcdef.secret extra", "malformed"),  # a secret with a space was "unknown or revoked"
        ("Bearer hk_0123456789abcdef.one, Bearer hk_0123456789abcdef.two", "malformed"),
    ],
)
def test_missing_malformed_or_unknown_keys_get_401(client: TestClient, header: str | None, detail: str) -> None:
    headers = {"Authorization": header.encode("latin-1")} if header is not None else {}
    response = client.get(PEOPLE, headers=headers, auth=None)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Basic realm="hub", Bearer realm="hub"'
    assert detail in response.json()["detail"]


def test_a_wrong_secret_of_a_real_key_and_a_revoked_key_get_401(client: TestClient, keys: Keys) -> None:
    made = keys.new("crm", cld_1="2243")
    wrong = client.get(PEOPLE, headers={"Authorization": f"Bearer {made.key.key_id}.{made.secret[:-1]}x"})
    assert wrong.status_code == 401
    assert client.get(PEOPLE, headers={"Authorization": f"Bearer {made.token}"}).status_code == 200
    keys.revoke(made.key.key_id)
    client.app.state.authenticator.forget()  # type: ignore[attr-defined]
    revoked = client.get(PEOPLE, headers={"Authorization": f"Bearer {made.token}"})
    assert revoked.status_code == 401 and revoked.json() == wrong.json()


def test_openapi_needs_no_key(client: TestClient) -> None:
    assert client.get("/openapi.json", auth=None).status_code == 200


def test_an_app_reaches_only_its_groups_and_others_look_missing(client: TestClient, keys: Keys) -> None:
    assert client.post(PEOPLE, json=person(ext("crm", "1"), first_name="Ada")).status_code == 201
    assert client.post("/api/v2/cld-2/people", json=person(first_name="Bob")).status_code == 201
    crm = keys.app("crm", cld_1="2243")
    assert client.get(PEOPLE, headers=crm).json()["pagination"]["total"] == 1
    other = client.get("/api/v2/cld-2/people", headers=crm)
    missing = client.get("/api/v2/cld-9/people", headers=crm)
    assert other.status_code == missing.status_code == 404
    assert other.json() == {**missing.json(), "detail": missing.json()["detail"].replace("cld-9", "cld-2")}
    assert client.get("/api/v2/cld-2/nothing", headers=crm).json()["detail"] == "no group cld-2"
    for path in ("/api/v2/cld-2/people/x/no/such/route", "/api/v2/cld-2/people/x/nope"):  # no route serves them
        assert client.delete(path, headers=crm).json() == other.json()
    assert client.get("/api/v2/cld-1/people/x/nope", headers=crm).status_code == 404  # its own group: no route


def test_an_app_with_a_group_anywhere_but_at_the_start_of_its_path_is_refused() -> None:
    def endpoint(request: Request) -> Response:
        return Response()

    check_routes([Route("/api/v2/{group_id}/changes", endpoint), Route("/api/v2/entity_types", endpoint)])
    with pytest.raises(ValueError, match="route /api/v2/things/"):
        check_routes([Route("/api/v2/things/{group_id}", endpoint)])


def test_a_group_route_beginning_with_a_word_a_collection_route_would_take_is_refused() -> None:
    def endpoint(request: Request) -> Response:
        return Response()

    with pytest.raises(ValueError, match=r"add 'things' to hub\.api\.paths\.FIXED"):
        check_routes([Route("/api/v2/{group_id}/things", endpoint)])


def test_a_route_parameter_that_would_read_escapes_as_sent_is_refused() -> None:
    """The consent route's plain `{name}` read `100%` as `100%25` (the path comes escaped, paths.PercentEncoding)."""

    def endpoint(request: Request) -> Response:
        return Response()

    check_routes([Route("/api/v2/{group_id}/changes/{name:segment}", endpoint)])
    with pytest.raises(ValueError, match=r"declare each parameter as \{name:segment\}"):
        check_routes([Route("/api/v2/{group_id}/changes/{name}/consent", endpoint)])


def test_the_collection_routes_tried_first_leave_the_fixed_routes_their_paths(client: TestClient) -> None:
    assert client.post("/api/v2/cld-1/people", json=person(first_name="Ada")).status_code == 201
    assert list(client.get("/api/v2/cld-1/changes").json()) == ["changes", "cursor", "more"]
    assert "key_links" in client.get("/api/v2/cld-1/key_links").json()
    assert client.get("/api/v2/cld-1/integrations").status_code == 200
    refused = client.post("/api/v2/cld-1/changes", json={})
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    unknown = client.get("/api/v2/cld-1/things")
    assert unknown.status_code == 404 and "no collection 'things'" in unknown.json()["detail"]


def test_an_app_adds_only_its_own_ids_in_its_realm(client: TestClient, keys: Keys) -> None:
    crm = keys.app("crm", cld_1="2243")
    assert client.post(PEOPLE, json=person(ext("crm", "1")), headers=crm).status_code == 201
    for foreign in (ext("erp", "1"), ext("crm", "2", realm="9999")):
        refused = client.post(PEOPLE, json=person(ext("crm", "2"), foreign), headers=crm)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["id"] == foreign and foreign["id"] in refused.json()["detail"]
    ref = client.post(PEOPLE, json=person(ext("crm", "3"), organization_id=[ext("erp", "7")]), headers=crm)
    assert ref.status_code == 403 and ref.json()["id"] == ext("erp", "7")
    assert client.get(PEOPLE, headers=crm).json()["pagination"]["total"] == 1  # nothing written


def test_hub_ids_and_the_admin_are_not_limited(client: TestClient, keys: Keys) -> None:
    created = client.post(PEOPLE, json=person(ext("erp", "1"), ext("crm", "5", realm="1")), headers=IDS)
    assert created.status_code == 201
    own = [e for e in created.json()["people"]["id"] if e["provider"] == "connec"]
    crm = keys.app("crm", cld_1="2243")
    linked = client.post(PEOPLE, json=person(*own, ext("crm", "1")), headers={**crm, **IDS})
    assert linked.status_code == 200, linked.text


def test_a_batch_refuses_only_the_items_with_others_ids(client: TestClient, keys: Keys) -> None:
    crm = keys.app("crm", cld_1="2243")
    batch = {"people": [{"id": [ext("crm", "1")]}, {"id": [ext("erp", "1")]}, {"id": [ext("crm", "2")]}]}
    results = client.post(PEOPLE, json=batch, headers=crm).json()["results"]
    assert [r["status"] for r in results] == [201, 403, 201]


def test_put_checks_the_ids_it_adds(client: TestClient, keys: Keys) -> None:
    crm = keys.app("crm", cld_1="2243")
    hub_id = client.post(PEOPLE, json=person(ext("crm", "1")), headers=crm).json()["people"]["id"]
    refused = client.put(f"{PEOPLE}/{hub_id}", json=person(ext("erp", "1")), headers=crm)
    assert refused.status_code == 403


def test_put_by_another_apps_id_is_a_write_by_that_app_and_refused(client: TestClient, keys: Keys) -> None:
    """A PUT by an app's id writes as that app (its sync directions hold), so only that app (or the admin) may: an app
    reads by another's id, and writes by it no more than it claims it in a body."""
    client.post(PEOPLE, json=person(ext("erp", "E1"), ext("crm", "1")), headers=IDS)
    crm = keys.app("crm", cld_1="2243")
    by_erp = {"opts[provider]": "erp", "opts[realm]": "2243"}
    assert client.get(f"{PEOPLE}/E1", params=by_erp, headers=crm).status_code == 200
    refused = client.put(f"{PEOPLE}/E1", params=by_erp, json={"people": {"title": "Dr."}}, headers=crm)
    assert refused.status_code == 403 and refused.json()["id"] == ext("erp", "E1"), refused.text
    assert "title" not in client.get(f"{PEOPLE}/E1", params=by_erp).json()["people"]
    by_crm = {"opts[provider]": "crm", "opts[realm]": "2243"}
    assert client.put(f"{PEOPLE}/1", params=by_crm, json={"people": {"title": "Dr."}}, headers=crm).status_code == 200


def test_secrets_appear_in_no_log_and_no_response(
    client: TestClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    made = keys.new("crm", cld_1="2243")
    caplog.set_level(logging.DEBUG)
    seen = [
        client.get(PEOPLE, headers={"Authorization": f"Bearer {made.token}"}),
        client.get(PEOPLE, headers={"Authorization": f"Bearer {made.key.key_id}.{made.secret}x"}),
        client.post(PEOPLE, content=b"{", headers={"Authorization": f"Bearer {made.token}"}),
    ]
    assert all(made.secret not in r.text for r in seen)
    assert made.secret not in caplog.text


class CountingStore:
    """Just the part of the port the authenticator uses, counting its calls."""

    def __init__(self, key: ApiKey) -> None:
        self.stored = key
        self.calls = 0

    async def key(self, key_id: str) -> ApiKey | None:
        self.calls += 1
        return self.stored if key_id == self.stored.key_id else None

    async def connections(self, provider: str | None = None) -> list[Connection]:
        self.calls += 1
        return [Connection("crm", "cld-1", "2243")]


async def test_verified_keys_are_cached_briefly_and_revocation_is_seen_after_the_ttl() -> None:
    key = ApiKey("hk_0123456789abcdef", "crm", hash_secret("s3cret"), "2024-01-01T00:00:00Z")
    store = CountingStore(key)
    auth = Authenticator(store, ttl=0.2)  # type: ignore[arg-type]
    for _ in range(50):
        who = await auth.authenticate(key.key_id, "s3cret")
        assert who is not None and who.realms == {"cld-1": "2243"}
    assert await auth.authenticate(key.key_id, "wrong") is None
    assert store.calls == 2  # one key lookup and one connections lookup, whatever the traffic
    store.stored = ApiKey(key.key_id, "crm", key.secret_hash, key.created_at, revoked_at="2024-01-02T00:00:00Z")
    time.sleep(0.25)
    assert await auth.authenticate(key.key_id, "s3cret") is None


def test_key_links_of_other_apps_are_not_the_apps_to_make_move_or_remove(client: TestClient, keys: Keys) -> None:
    hub_id = client.post(PEOPLE, json=person(ext("erp", "1"))).json()["people"]["id"]
    crm = keys.app("crm", cld_1="2243")
    links = "/api/v2/cld-1/key_links"
    own = {"entity_type": "people", "internal_id": hub_id, "provider": "crm", "realm": "2243", "external_id": "9"}
    foreign = {**own, "provider": "erp", "external_id": "2"}
    refused = client.post(links, json=foreign, headers=crm)
    assert refused.status_code == 403 and refused.json()["id"] == ext("erp", "2")
    assert client.post(links, json={**own, "realm": "1"}, headers=crm).status_code == 403
    assert client.post(links, json=own, headers=crm).status_code == 201
    erp_link = client.get(links, params={"provider": "erp"}).json()["key_links"][0]["id"]
    assert client.delete(f"{links}/{erp_link}", headers=crm).status_code == 403
    assert client.put(f"{links}/{erp_link}", json={"internal_id": hub_id}, headers=crm).status_code == 403
    named = {"entity_type": "people", "provider": "erp", "realm": "2243", "external_id": "1"}
    assert client.delete(links, params=named, headers=crm).status_code == 403
    assert client.put(links, json={**named, "internal_id": hub_id}, headers=crm).status_code == 403
    assert client.delete(links, params={**named, "provider": "crm", "external_id": "9"}, headers=crm).status_code == 204


def test_an_app_merges_by_hub_ids_or_its_own_ids_only(client: TestClient, keys: Keys) -> None:
    a = client.post(PEOPLE, json=person(ext("erp", "1"))).json()["people"]["id"]
    b = client.post(PEOPLE, json=person(ext("crm", "1"))).json()["people"]["id"]
    crm = keys.app("crm", cld_1="2243")
    by_other = client.post(f"{PEOPLE}/{b}/merge", json={"records": [[ext("erp", "1")]]}, headers=crm)
    assert by_other.status_code == 403 and by_other.json()["id"] == ext("erp", "1")
    assert client.post(f"{PEOPLE}/{b}/merge", json={"records": [a]}, headers=crm).status_code == 200


def test_an_app_writes_by_its_own_ids_in_a_path_only(client: TestClient, keys: Keys) -> None:
    """A path naming its record by an app's id (`opts[provider]`/`opts[realm]`) matches by that id: every write by
    it (merge, undo, archive, connect) is that app's or the admin's, as with the ids of a body; reads are anyone's."""
    a = client.post(PEOPLE, json=person(ext("erp", "E1"), ext("crm", "C1"))).json()["people"]["id"]
    b = client.post(PEOPLE, json=person(first_name="B")).json()["people"]["id"]
    crm = keys.app("crm", cld_1="2243")
    by_erp, by_crm = {"opts[provider]": "erp", "opts[realm]": "2243"}, {"opts[provider]": "crm", "opts[realm]": "2243"}
    connect = {"provider": "crm", "realm": "2243", "id": "C1", "field_values": []}
    writes = {
        "merge": lambda by, key: client.post(f"{PEOPLE}/{key}/merge", params=by, json={"records": [b]}, headers=crm),
        "unmerge": lambda by, key: client.post(
            f"{PEOPLE}/{key}/unmerge", params=by, json={"merge_id": "m"}, headers=crm
        ),
        "connect": lambda by, key: client.post(f"{PEOPLE}/{key}/connect", params=by, json=connect, headers=crm),
        "archive": lambda by, key: client.delete(f"{PEOPLE}/{key}", params=by, headers=crm),
    }
    for name, write in writes.items():
        refused = write(by_erp, "E1")
        assert refused.status_code == 403 and refused.json()["id"] == ext("erp", "E1"), (name, refused.text)
    assert client.get(f"{PEOPLE}/{a}/merges", headers=crm).json()["merges"] == []
    shown = client.get(f"{PEOPLE}/E1", params=by_erp, headers=crm).json()["people"]
    assert shown["id"] == a and shown["status"] == "ACTIVE"
    assert [write(by_crm, "C1").status_code for write in writes.values()] == [200, 404, 204, 200]


def test_an_app_sees_only_its_own_and_the_hubs_integration_system(client: TestClient, keys: Keys) -> None:
    client.post(PEOPLE, json=person(ext("erp", "1"), ext("crm", "1")))
    names = {s["system_name"] for s in client.get("/api/v2/integration_systems").json()["integration_systems"]}
    assert names == {"connec", "crm", "erp"}
    crm = keys.app("crm", cld_1="2243")
    seen = client.get("/api/v2/integration_systems", headers=crm).json()["integration_systems"]
    assert {s["system_name"] for s in seen} == {"connec", "crm"}


def test_an_app_connects_records_only_with_its_own_id(client: TestClient, keys: Keys) -> None:
    hub_id = client.post(PEOPLE, json=person(first_name="Ada")).json()["people"]["id"]
    crm = keys.app("crm", cld_1="2243")
    body = {"provider": "erp", "realm": "2243", "id": "E-1", "field_values": []}
    refused = client.post(f"{PEOPLE}/{hub_id}/connect", json=body, headers=crm)
    assert refused.status_code == 403 and refused.json()["id"] == ext("erp", "E-1")
    own = client.post(f"{PEOPLE}/{hub_id}/connect", json={**body, "provider": "crm"}, headers=crm)
    assert own.status_code == 204, own.text


def test_an_app_defines_and_uses_only_its_own_integrations(client: TestClient, keys: Keys) -> None:
    url = "/api/v2/cld-1/integrations"
    body = {"name": "out", "entity": "people", "direction": "outbound", "provider": "erp", "realm": "2243"}
    assert client.post(url, json=body).status_code == 201  # the admin defines one for erp
    crm = keys.app("crm", cld_1="2243")
    refused = client.post(url, json={**body, "name": "mine"}, headers=crm)
    assert refused.status_code == 403 and refused.json()["provider"] == "erp"
    assert client.post(url, json={**body, "name": "mine", "provider": "crm"}, headers=crm).status_code == 201
    assert client.post(f"{url}/mine/lease", headers=crm).status_code == 200
    assert client.put(f"{url}/mine", json={"provider": "erp"}, headers=crm).status_code == 403
    for method, path in (("POST", "out/lease"), ("GET", "out"), ("DELETE", "out"), ("GET", "out/dead")):
        assert client.request(method, f"{url}/{path}", headers=crm).status_code == 403, path
    assert client.post(f"{url}/nothing/lease", headers=crm).status_code == 404


def test_a_disconnected_app_finds_what_it_made_when_connected_again_with_its_realm(
    client: TestClient, keys: Keys
) -> None:
    url = "/api/v2/cld-1/integrations"
    body = {"name": "mine", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    crm = keys.app("crm", cld_1="2243")
    assert client.post(url, json=body, headers=crm).status_code == 201
    assert client.post(PEOPLE, json=person(ext("crm", "1")), headers=crm).status_code == 201
    lease = client.post(f"{url}/mine/lease", headers=crm).json()
    keys.disconnect("crm", "cld-1")
    for method, path in (("GET", PEOPLE), ("POST", f"{url}/mine/ack"), ("GET", "/api/v2/cld-1/changes")):
        assert client.request(method, path, headers=crm).status_code == 404, path
    assert client.post(PEOPLE, json=person(first_name="Ada")).status_code == 201  # queued for the app meanwhile
    keys.connect("crm", "cld-1", "2243")
    acked = client.post(f"{url}/mine/ack", json={"lease": lease["lease"], "items": [1]}, headers=crm)
    assert acked.json() == {"acked": [1], "refused": []}
    assert [i["record"]["first_name"] for i in client.post(f"{url}/mine/lease", headers=crm).json()["items"]] == ["Ada"]
    assert client.get(f"{PEOPLE}/1", params={"opts[provider]": "crm", "opts[realm]": "2243"}, headers=crm).is_success
    keys.disconnect("crm", "cld-1")
    keys.connect("crm", "cld-1", "9")  # another realm: another app in the group
    assert client.get(url, headers=crm).json() == {"integrations": []}
    assert client.post(f"{url}/mine/lease", headers=crm).status_code == 403
    by_old = {"opts[provider]": "crm", "opts[realm]": "2243"}
    assert client.put(f"{PEOPLE}/1", params=by_old, json=person(), headers=crm).status_code == 403


@pytest.mark.parametrize("given", [{"provider": None}, {"realm": None}, {"provider": 7}, {"realm": ["2243"]}])
def test_an_app_naming_no_app_in_a_definition_is_told_which_field_is_wrong(
    client: TestClient, keys: Keys, given: dict[str, object]
) -> None:
    """A provider or realm that is no string was a 403 naming the app 'None' (or '7'): the field is what is wrong."""
    url = "/api/v2/cld-1/integrations"
    body = {"name": "out", "entity": "people", "direction": "outbound", "provider": "crm", "realm": "2243"}
    crm = keys.app("crm", cld_1="2243")
    created = client.post(url, json={**body, **given}, headers=crm)
    assert created.status_code == 422 and created.json()["errors"][0]["field"] == next(iter(given)), created.text
    assert client.post(url, json=body, headers=crm).status_code == 201
    changed = client.put(f"{url}/out", json=given, headers=crm)
    assert changed.status_code == 422 and next(iter(given)) in changed.json()["detail"], changed.text


def test_a_system_number_tells_an_app_nothing_of_the_apps_of_other_groups(client: TestClient, keys: Keys) -> None:
    """A key link named by another app's `integration_system_id` was a 403 naming that app when it held ids in any
    group, and a 422 when it held none: an oracle for the providers `integration_systems` hides from an app."""
    client.post("/api/v2/cld-2/people", json=person(ext("secret-erp", "1")))
    hub_id = client.post(PEOPLE, json=person(ext("crm", "1"))).json()["people"]["id"]
    crm = keys.app("crm", cld_1="2243")
    links = "/api/v2/cld-1/key_links"

    def answers(name: str) -> list[tuple[int, str]]:
        named = {"entity_type": "people", "integration_system_id": stable_id(name), "realm": "2243", "external_id": "1"}
        sent = [
            client.post(links, json={**named, "internal_id": hub_id}, headers=crm),
            client.put(links, json={**named, "internal_id": hub_id}, headers=crm),
            client.delete(links, params={k: str(v) for k, v in named.items()}, headers=crm),
        ]
        assert all(r.headers["content-type"] == "application/problem+json" for r in sent)
        return [(r.status_code, r.text.replace(str(stable_id(name)), "N")) for r in sent]

    seen = answers("secret-erp")
    assert seen == answers("never-seen-anywhere")
    assert all(status == 403 and "secret-erp" not in text for status, text in seen), seen
    own = {"entity_type": "people", "integration_system_id": stable_id("crm"), "realm": "2243", "external_id": "2"}
    assert client.post(links, json={**own, "internal_id": hub_id}, headers=crm).status_code == 409  # one id per app
