"""The key, connection and index commands of the CLI, and that what they make is what the API then lets in."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.cli import listen, main
from hub.config import Settings
from tests.e2e.server import free_port, wait_until_up


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def made(store: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The store, made (empty of keys): a command that reads or undoes refuses a store not there."""
    assert run(capsys, "connect", "--provider", "erp", "--group", "cld-0", "--realm", "1", "--store", store)[0] == 0
    return store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def token_of(out: str) -> str:
    found = re.search(r"Authorization: Bearer (\S+)", out)
    assert found, out
    return found.group(1)


def test_create_connect_list_and_revoke(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "keys", "create", "--provider", "salesforce", "--store", store)
    assert code == 0 and "shown only this once" in out
    token = token_of(out)
    key_id = token.split(".")[0]
    code, out, _ = run(
        capsys, "connect", "--provider", "salesforce", "--group", "cld-1234", "--realm", "2243", "--store", store
    )
    connected = "salesforce is connected to cld-1234 with realm 2243; a running hub lets it in within 5 s\n"
    assert (code, out) == (0, connected)
    code, out, _ = run(capsys, "keys", "list", "--store", store)
    assert code == 0 and key_id in out and "cld-1234 (realm 2243)" in out and token.split(".")[1] not in out

    with TestClient(create_app(Settings(store=store)), raise_server_exceptions=False) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/v2/cld-1234/people", headers=headers).status_code == 200
        assert client.get("/api/v2/cld-9/people", headers=headers).status_code == 404
        body = {"people": {"id": [{"realm": "2243", "provider": "salesforce", "id": "003"}]}}
        assert client.post("/api/v2/cld-1234/people", json=body, headers=headers).status_code == 201

    assert run(capsys, "keys", "revoke", key_id, "--store", store)[0] == 0
    code, out, _ = run(capsys, "keys", "list", "--store", store)
    assert re.search(rf"{key_id}\s+salesforce\s+\S+\s+\d{{4}}-", out), out
    with TestClient(create_app(Settings(store=store)), raise_server_exceptions=False) as client:
        assert client.get("/api/v2/cld-1234/people", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    code, out, _ = run(capsys, "disconnect", "--provider", "salesforce", "--group", "cld-1234", "--store", store)
    assert (code, out) == (0, "salesforce is no longer connected to cld-1234; a running hub refuses it within 5 s\n")


def test_an_admin_key_reaches_every_group(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = token_of(run(capsys, "keys", "create", "--admin", "--store", store)[1])
    with TestClient(create_app(Settings(store=store)), raise_server_exceptions=False) as client:
        assert (
            client.post(
                "/api/v2/any-group/people", json={"people": {}}, headers={"Authorization": f"Bearer {token}"}
            ).status_code
            == 201
        )


def test_revoking_by_a_keys_token_names_its_id_and_not_its_secret(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A leaked key's token pasted whole was answered 'no live key', as if it were revoked already."""
    token = token_of(run(capsys, "keys", "create", "--provider", "crm", "--store", store)[1])
    key_id, secret = token.split(".")
    code, _, err = run(capsys, "keys", "revoke", token, "--store", store)
    assert code == 1 and f"hub keys revoke {key_id}" in err and secret not in err and "no live key" not in err
    code, out, _ = run(capsys, "keys", "list", "--store", store)
    assert re.search(rf"{key_id}\s+crm\s+\S+\s+-", out), out  # still live: nothing was revoked
    assert run(capsys, "keys", "revoke", key_id, "--store", store)[0] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "revoke", "hk_0000000000000000"], "no live key"),
        (["keys", "revoke", "'; drop table api_keys"], "no live key"),
        (["keys", "create", "--provider", "connec"], "hub's own provider"),
        (["keys", "create", "--provider", "has space"], "malformed provider"),
        (["keys", "create", "--provider", "crm\n"], "malformed provider"),
        (["connect", "--provider", "crm", "--group", "bad group", "--realm", "1"], "malformed group id"),
        (["connect", "--provider", "crm", "--group", "cld-1\n", "--realm", "1"], "malformed group id"),
        (["connect", "--provider", "crm\n", "--group", "cld-1", "--realm", "1"], "malformed provider"),
        (["connect", "--provider", "crm", "--group", "cld-1", "--realm", " "], "malformed realm"),
        (["connect", "--provider", "crm", "--group", "cld-1", "--realm", "22\n43"], "malformed realm"),
        (["disconnect", "--provider", "crm", "--group", "cld-1"], "not connected"),
        (["index", "add", "people", "email"], "people has no field 'email' holding one value"),
        (["index", "add", "people", "status"], "not a declared one"),
        (["index", "add", "organizations", "last_name"], "organizations has no field 'last_name'"),
        (["index", "drop", "people", "last_name"], "people last_name has no index"),
        (["index", "drop", "people", "organization_id"], "people organization_id is a reference, indexed always"),
    ],
)
def test_bad_commands_say_why_and_exit_1(
    made: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv, "--store", made)
    assert code == 1 and message in err


ALWAYS = "people organization_id (a reference: indexed always)\n"
"""What `hub index list` shows of a store none was added to: the reference field, indexed by every store."""


def test_an_indexed_field_is_listed_filtered_by_and_dropped(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = token_of(run(capsys, "keys", "create", "--admin", "--store", store)[1])
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(Settings(store=store)), raise_server_exceptions=False) as client:
        for n in range(3):
            body = {"people": {"first_name": f"P{n}", "email": {"address": f"p{n}@x.io"}}}
            assert client.post("/api/v2/cld-1/people", json=body, headers=headers).status_code == 201
    assert run(capsys, "index", "list", "--store", store)[1] == ALWAYS
    code, out, err = run(capsys, "index", "add", "people", "email/address", "--store", store)
    assert code == 0 and "indexing people email/address" in err and out.startswith("people email/address is indexed")
    assert run(capsys, "index", "add", "people", "email/address", "--store", store) == (
        0,
        "people email/address was indexed already\n",
        "",  # nothing is read: no "indexing …" before it
    )
    assert run(capsys, "index", "list", "--store", store)[1] == f"people email/address\n{ALWAYS}"
    with TestClient(create_app(Settings(store=store)), raise_server_exceptions=False) as client:
        page = client.get("/api/v2/cld-1/people", params={"$filter": "email/address eq 'p1@x.io'"}, headers=headers)
        assert [p["first_name"] for p in page.json()["people"]] == ["P1"] and page.json()["pagination"]["total"] == 1
    assert run(capsys, "index", "drop", "people", "email/address", "--store", store) == (
        0,
        "people email/address is no longer indexed\n",
        "",
    )
    assert run(capsys, "index", "list", "--store", store)[1] == ALWAYS


def test_a_reference_field_is_said_to_be_indexed_already_and_nothing_more(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every store indexes a reference field always: nothing is read, so no "indexing …" comes before."""
    assert run(capsys, "index", "add", "people", "organization_id", "--store", store) == (
        0,
        "people organization_id was indexed already\n",
        "",
    )


def test_connecting_again_keeps_the_realm_or_says_why_not(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    connect = ["connect", "--provider", "crm", "--group", "cld-1", "--store", store, "--realm"]
    assert run(capsys, *connect, "2243")[0] == 0
    assert run(capsys, *connect, "2243")[0] == 0
    code, _, err = run(capsys, *connect, "9999")
    assert code == 1 and "disconnect it first" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "create", "--admin"],
        ["connect", "--provider", "crm", "--group", "cld-1", "--realm", "1"],
        ["index", "add", "people", "last_name"],
        ["import", "--group", "cld-1", "--quiet", "-"],
    ],
)
def test_a_store_this_process_cannot_write_is_said_without_a_traceback(
    made: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """A store file the user may read but not write (the service's, run by an operator as themselves; a read-only
    disk) opens, and the first write failed with sqlite3's traceback, `attempt to write a readonly database`."""

    def read_only(path: str) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)

    monkeypatch.setattr("hub.store.sqlite_conn.connect_writer", read_only)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"first_name": "Ann"}\n')))
    code, _, err = run(capsys, *argv, "--store", made)
    last = err.splitlines()[-1]
    assert code == 1 and last.startswith("hub: the SQLite file cannot be written: attempt to write a readonly"), err


IN_DECIMALS = "is not a number in decimals: up to 18 digits, a point and up to 9 more"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HUB_MAX_TOP", "abc", "HUB_MAX_TOP='abc' is not a whole number"),
        ("HUB_WEBHOOK_POLL_SECONDS", "soon", f"HUB_WEBHOOK_POLL_SECONDS='soon' {IN_DECIMALS}"),
        ("HUB_WEBHOOK_POLL_SECONDS", "nan", f"HUB_WEBHOOK_POLL_SECONDS='nan' {IN_DECIMALS}"),
        ("HUB_MAX_TOP", "1_000", "HUB_MAX_TOP='1_000' is not a whole number"),
        ("HUB_DEFAULT_TOP", "5000", "default_top (5000) must not be more than max_top (1000)"),
        ("HUB_MAX_BATCH", "0", "max_batch must be at least 1, not 0"),
        ("HUB_LEASE_SECONDS", "-5", "HUB_LEASE_SECONDS='-5' is not a whole number"),
        ("HUB_LEASE_SECONDS", "0", "lease_seconds must be at least 1, not 0"),
    ],
)
def test_a_setting_the_hub_cannot_run_with_is_named_and_exits_1(
    store: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert run(capsys, "keys", "list", "--store", store) == (1, "", f"hub: {message}\n")


def test_serve_refuses_a_port_it_cannot_listen_on_before_making_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "hub.db"
    with pytest.raises(SystemExit) as usage:
        main(["serve", "--port", "99999", "--store", f"sqlite:///{store}"])
    assert usage.value.code == 2 and "'99999' is not a port" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "serve", "--port", str(port), "--store", f"sqlite:///{store}")
    assert (code, out) == (1, "") and err == f"hub: cannot listen there (Address already in use): 127.0.0.1:{port}\n"
    assert not store.exists()  # no admin key was made for a hub that never served


@pytest.mark.parametrize("host", ["", " "])
def test_serve_refuses_an_empty_host_rather_than_listen_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    """An empty address binds every interface: `--host "$HOST"`, the variable unset, served the hub to the network."""
    store = tmp_path / "hub.db"
    with pytest.raises(SystemExit) as usage:
        main(["serve", "--host", host, "--port", "0", "--store", f"sqlite:///{store}"])
    assert usage.value.code == 2 and f"{host!r} is not an address" in capsys.readouterr().err
    assert not store.exists()


def test_keys_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["keys"])


async def test_a_fresh_store_gets_one_admin_key_and_never_another(store: str) -> None:
    from hub.service import access
    from hub.store import store_from_url

    opened = store_from_url(store)
    await opened.open()
    try:
        first = await access.first_admin_key(opened)
        assert first is not None and first.key.admin
        await opened.revoke_key(first.key.key_id, "2024-01-01T00:00:00Z")
        assert await access.first_admin_key(opened) is None
    finally:
        await opened.close()


async def test_connections_to_the_served_socket_send_small_writes_at_once() -> None:
    """asyncio turns Nagle's algorithm off only on connections of a socket made as TCP by name: with it on, an
    answer written in two parts waited out the client's delayed ACK, 40 ms a request."""
    listening = listen("127.0.0.1", 0)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(connected, sock=listening)
    async with server:
        _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
        try:
            assert await asyncio.wait_for(accepted, 5) == 1
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.mark.parametrize(
    "url",
    [
        "mongodb://hub:s3cret-pw@127.0.0.1:1/",  # no database
        "mongo://hub:s3cret-pw@127.0.0.1:1/hub",  # no such scheme
        "mongodb://hub:s3cret-pw@127.0.0.1:1/hub?authMechanism=BOGUS",  # refused by the client as it opens
        "mongodb://hub:s3cret-pw@127.0.0.1:1]/hub",  # not a URL: a traceback (ValueError: Invalid IPv6 URL)
    ],
)
def test_the_password_of_a_store_url_is_never_printed(capsys: pytest.CaptureFixture[str], url: str) -> None:
    """A store that could not be opened was named by its whole URL, the MongoDB password in it included."""
    code, out, err = run(capsys, "keys", "list", "--store", url)
    assert code == 1 and "hub:***@127.0.0.1:1" in err and "s3cret" not in out + err, err


def test_a_misspelt_setting_is_named_with_the_one_meant(
    made: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`HUB_MAX_TOPP=5` was ignored without a word, the setting left at its default; a variable of the shell's own
    (`HUB_KEY`, as the README's examples set it) is no setting's near miss and is left alone."""
    monkeypatch.setenv("HUB_MAX_TOPP", "5")
    monkeypatch.setenv("HUB_WEBHOOK_POL_SECONDS", "5")
    monkeypatch.setenv("HUB_KEY", "hk_1.secret")
    monkeypatch.setenv("HUB_PORT", "9000")  # a container's convention: only `hub serve --port` sets it
    code, _, err = run(capsys, "keys", "list", "--store", made)
    assert code == 0
    assert err.splitlines() == [
        "hub: HUB_MAX_TOPP names no setting and is ignored (did you mean HUB_MAX_TOP?)",
        "hub: HUB_PORT names no setting and is ignored (did you mean hub serve --port?)",
        "hub: HUB_WEBHOOK_POL_SECONDS names no setting and is ignored (did you mean HUB_WEBHOOK_POLL_SECONDS?)",
    ]


def test_serve_stopped_with_ctrl_c_says_nothing_of_imports(tmp_path: Path) -> None:
    """`./scripts/serve`, the README's first command, stopped as its log says (CTRL+C) ended with "hub: interrupted;
    what was written before stays (an import can be run again)": the message of an import, for a server."""
    port = free_port()
    command = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--store", f"sqlite:///{tmp_path}/h.db"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process=process)
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 130 and "Finished server process" in err
    assert "import" not in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["keys", "list"],
        ["keys", "revoke", "hk_0123456789abcdef"],
        ["disconnect", "--provider", "crm", "--group", "cld-1"],
        ["index", "list"],
        ["index", "drop", "people", "email/address"],
        ["export", "--group", "cld-1", "out.jsonl"],
    ],
)
def test_a_command_that_reads_or_undoes_refuses_a_store_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """Opening the store made it: a mistyped `--store` listed an empty store's keys or indexes as the ones meant
    (`hub keys list` showed no keys at all), and left an empty database file behind."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv, "--store", f"sqlite:///{tmp_path / 'typo.db'}")
    assert (code, out) == (1, "")
    assert f"no SQLite store at {tmp_path / 'typo.db'}" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "closed"),
    [
        (["keys", "create", "--admin"], "stdout"),
        (["export", "--group", "cld-0", "-"], "stdout"),
        (["import", "--group", "cld-0", "-"], "stdin"),
    ],
)
def test_a_standard_stream_closed_is_said_and_no_key_is_made_for_it(
    made: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], closed: str
) -> None:
    """Started with it closed (`>&-`, `<&-`), Python leaves the stream None: `export -` and `import -` ended in an
    AttributeError traceback, and `keys create` made a key whose secret, shown once, went nowhere."""
    with monkeypatch.context() as patched:
        patched.setattr(sys, closed, None)
        code = main([*argv, "--store", made])
    err = capsys.readouterr().err
    name = "output" if closed == "stdout" else "input"
    assert code == 1 and f"hub: standard {name} is closed" in err and "Traceback" not in err, err
    assert run(capsys, "keys", "list", "--store", made)[1].count("\n") == 1  # the heading alone: no key


@pytest.mark.parametrize("argv", [["keys", "list"], ["keys", "create", "--admin"], ["backup", "copy.db"]])
def test_another_applications_sqlite_file_is_refused_and_left_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """Opened as the store, another application's database (a mistyped `--store`) was switched to WAL and given the
    hub's tables beside its own."""
    other = tmp_path / "places.sqlite"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
        conn.commit()
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv, "--store", f"sqlite:///{other}")
    assert code == 1 and "is a SQLite database of something else (its tables: moz_places)" in err, err
    assert "Traceback" not in err and "secret" not in out
    with closing(sqlite3.connect(other)) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert (tables, conn.execute("PRAGMA journal_mode").fetchone()[0]) == (["moz_places"], "delete")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["places.sqlite"]


def test_python_dash_m_hub_runs_the_command(store: str) -> None:
    """Where the `hub` script is not on the PATH (a virtualenv not activated), `python -m hub` is the command."""
    listed = subprocess.run(
        [sys.executable, "-m", "hub", "keys", "list", "--store", store], capture_output=True, text=True, timeout=60
    )
    assert (listed.returncode, listed.stdout) == (1, "")
    assert "no SQLite store at" in listed.stderr
