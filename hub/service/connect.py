"""Connect (seed 004): link a record to an app's record, set values, and remember each field's sync directions.

hub/service/directions.py is where those directions are then honoured.
"""

from __future__ import annotations

from hub.config import Settings
from hub.errors import Conflict
from hub.model import timefmt
from hub.model.change import Kind, archives, written
from hub.model.collections import Collection
from hub.model.connect import BOTH_WAYS, FIELD_VALUES, ConnectAsk
from hub.model.ids import ensure_holdable
from hub.service import changes, merging, reading, references, upsert
from hub.service.transact import transact
from hub.store.base import Store, Transaction


async def connect(
    store: Store,
    settings: Settings,
    group_id: str,
    collection: Collection,
    key: str,
    app: tuple[str, str] | None,
    ask: ConnectAsk,
    actor: str,
) -> None:
    """Link the app's id to the record (409 as when adding an id), apply the values for the hub, keep directions.
    A placeholder holding the id (a reference to it made one) is merged with the record first, as an upsert naming
    both would merge them: it stood for the record the app now names."""
    group = await reading.group_or_404(store, group_id)

    async def work(tx: Transaction) -> None:
        record = await reading.locate_in(tx, collection, key, app)
        holders = [r for r in await tx.match(collection.name, [ask.ext]) if r.hub_id != record.hub_id]
        if holders and all(r.placeholder for r in holders):
            record = await merging.taking_in(
                tx, settings, group, collection, record, holders, ask.ext, actor, "connect"
            )
        elif holders:
            raise Conflict(
                f"{ask.ext.provider} (realm {ask.ext.realm}) id {ask.ext.id} is linked to another"
                f" {collection.name} record",
                records=[record.hub_id, *(r.hub_id for r in holders)],
            )
        hub_id = record.hub_id
        new = [] if ask.ext in record.ids else [ask.ext]
        ensure_holdable([*record.ids, *new], records=[hub_id])
        refs = await references.resolve(tx, settings, group, collection, ask.write, FIELD_VALUES)
        values = {**ask.write.fields, **refs}
        status = values.pop("status", None)
        kept = (await tx.field_sync(collection.name, [ask.ext])).get(ask.ext, {})
        same = all(kept.get(name, BOTH_WAYS) == way for name, way in ask.directions.items())
        values = await upsert.as_stored(tx, collection, record, values)
        # its values came (a status is one, a null none): the real record, as an upsert's would fill it in
        filled = record.placeholder and (any(v is not None for v in values.values()) or status is not None)
        if not new and same and not filled and upsert.holds(record, values, status):
            return  # connected so already, a placeholder too: answered, not recorded (see `upsert.unchanged`)
        kind: Kind = (
            "create" if filled else "archive" if archives(status, record.status) else "link" if new else "update"
        )
        # what an app is sent anew: the values, and for this app the fields it now receives, or no longer does
        shown = {name for name, way in ask.directions.items() if kept.get(name, BOTH_WAYS).to_app != way.to_app}
        touched = written(record, values, status, bool(new))
        before = changes.touch(record, timefmt.now())  # a filter the record leaves hears of it (`update_record`)
        record.status = status or record.status
        record.fields = {k: v for k, v in {**record.fields, **values}.items() if v is not None}
        if filled:
            record.placeholder = False
        await tx.save(record, new)
        await tx.set_field_sync(collection.name, ask.ext, ask.directions)
        details = {"connected": ask.ext.as_json(), "fields": sorted(ask.directions)}
        if filled:
            details.update(await changes.filled_in(tx, collection.name, hub_id))
        shown_anew = (ask.ext.app, frozenset(shown))
        await changes.record_current(
            tx, kind, collection.name, hub_id, [before], touched=touched, shown=shown_anew, **details
        )

    await transact(store, group_id, work)
