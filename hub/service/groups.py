"""The group a write goes to: the stored one, or a new one that the write's own transaction stores."""

from __future__ import annotations

from hub.model.record import Group
from hub.service.ids import new_channel_id
from hub.store.base import Store, Transaction


async def group_for_write(store: Store, group_id: str) -> Group:
    """The group, or a new one with a channel generated for it, which the first write stores in its own transaction
    (`stored`): a write refused left a group behind, whose reads then answered as if it held data."""
    return await store.group(group_id) or Group(group_id, new_channel_id(), new=True)


async def stored(tx: Transaction, group: Group) -> Group:
    """The group as stored, storing a new one in the transaction (a first write racing another finds its)."""
    return await tx.ensure_group(group) if group.new else group
