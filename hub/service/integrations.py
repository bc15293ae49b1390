"""Integration definitions of a group: list, create, get, update, delete, consent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from hub.config import Settings
from hub.errors import Conflict, Invalid, NotFound
from hub.model import network, timefmt
from hub.model.access import Principal
from hub.model.integration import (
    Definition,
    Integration,
    check_locks,
    check_managing,
    keeps_queue,
    parse_definition,
    updated,
)
from hub.service import groups, reading
from hub.service.transact import transact
from hub.store.base import Store, Transaction


async def all_of(store: Store, group_id: str) -> Sequence[Integration]:
    await reading.group_or_404(store, group_id)
    return await store.integrations(group_id)


async def get(store: Store, group_id: str, name: str) -> Integration:
    found = await store.integration(group_id, name)
    if found is None:
        raise NotFound(f"no integration {name!r} in group {group_id}")
    return found


async def held(tx: Transaction, group_id: str, name: str, caller: Principal | None = None) -> Integration:
    """The integration, read inside a write transaction; 404 if there is none, 403 if it is not the `caller`'s app's
    (None: the hub's own delivery task). The API's guard (`owned`) checked the caller before the transaction; an
    admin giving the integration to another app in between had the old app lease, ack or change the new one's."""
    found = await tx.integration(name)
    if found is None:
        raise NotFound(f"no integration {name!r} in group {group_id}")
    if caller is not None:
        caller.ensure_own_app(group_id, found.definition.provider, found.definition.realm, "use the integrations")
    return found


async def create(store: Store, settings: Settings, group_id: str, body: Any, operator: bool) -> Integration:
    """A new integration; `operator` when an admin key asks (`check_managing`)."""
    definition = parse_definition(body, settings.hub_provider)
    check_managing(None, definition, operator)
    _reachable(definition, settings)
    # A new group is stored by the transaction that stores the integration (`groups.stored`): stored before it, in a
    # transaction of its own, it stayed when the definition's failed (the hub killed between the two, the file busy
    # past the timeout), and the group's reads answered as if it held data.
    group = await groups.group_for_write(store, group_id)
    now = timefmt.now()
    integration = Integration(group_id, definition, now, now)

    async def work(tx: Transaction) -> None:
        if await tx.integration(definition.name) is not None:
            raise Conflict(f"an integration named {definition.name!r} exists already in group {group_id}")
        await groups.stored(tx, group)
        await tx.put_integration(integration, new=True)

    await transact(store, group_id, work)
    return integration


async def update(
    store: Store,
    settings: Settings,
    group_id: str,
    name: str,
    body: Any,
    override: bool,
    operator: bool,
    *,
    caller: Principal | None = None,
) -> Integration:
    """A partial update; the locks of `managed` and `allow_schedule_change` hold unless `override`, and only the
    `operator` (an admin key) makes an integration managed. The queue is
    emptied in the same transaction when the update ends what it was for (`keeps_queue`). A webhook is checked
    (`_reachable`) when the update gives another: one made while the local network was allowed stays as it was.
    An update that changes nothing writes nothing: `updated_at` says when the definition last changed."""

    async def work(tx: Transaction) -> Integration:
        integration = await held(tx, group_id, name, caller)
        definition = updated(integration.definition, body, settings.hub_provider)
        if definition == integration.definition:
            return integration
        if definition.webhook is not None and definition.webhook != integration.definition.webhook:
            _reachable(definition, settings)
        check_managing(integration.definition, definition, operator)
        check_locks(integration.definition, definition, override)
        if not keeps_queue(integration.definition, definition):
            await tx.clear_queue(name)
        integration.redefine(definition, timefmt.now())
        await tx.put_integration(integration, new=False)
        return integration

    return await transact(store, group_id, work)


def _reachable(definition: Definition, settings: Settings) -> None:
    """422 for a webhook whose URL names the hub's own machine or network by its address (or `localhost`), unless
    the operator allows them (`webhook_local_network`); a name that resolves there is refused as it is POSTed to."""
    if definition.webhook is None or settings.webhook_local_network:
        return
    host = urlsplit(definition.webhook.url).hostname or ""
    if network.local(host):
        why = f"{host} is on the hub's own machine or network (HUB_WEBHOOK_LOCAL_NETWORK=true allows it)"
        raise Invalid(f"invalid field(s): webhook.url: {why}", errors=[{"field": "webhook.url", "message": why}])


async def delete(store: Store, group_id: str, name: str, override: bool, *, caller: Principal | None = None) -> None:
    """Drop the integration and its queue; a managed one only with `override`."""

    async def work(tx: Transaction) -> None:
        integration = await held(tx, group_id, name, caller)
        if integration.definition.managed and not override:
            raise Conflict(f"{name!r} is managed: it cannot be deleted here")
        await tx.delete_integration(name)

    await transact(store, group_id, work)


async def consent(
    store: Store, group_id: str, name: str, flow: str | None = None, *, caller: Principal | None = None
) -> Integration:
    """Record that the app consented (to `flow`, if named): from now on its queue is handed out (see
    `Integration.needs_consent`). A consent naming another flow than the integration's is refused: its
    `consent_type` changed since the app showed it, and the consent was given to what it replaced."""

    async def work(tx: Transaction) -> Integration:
        integration = await held(tx, group_id, name, caller)
        if flow is not None and flow != integration.definition.consent_type:
            awaited = integration.definition.consent_type
            raise Conflict(f"{name!r} awaits consent to {awaited!r}, not {flow!r}: read it again and ask for that one")
        if integration.consented_at is None:
            integration.consented_at = integration.updated_at = timefmt.now()
            await tx.put_integration(integration, new=False)
        return integration

    return await transact(store, group_id, work)
