"""An integration definition (seed 003's FinanceKey fields): what it is, and every rule it must keep."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from hub.errors import Conflict, Forbidden, HubError, Invalid
from hub.model.collections import COLLECTIONS
from hub.model.fields import Text
from hub.model.filter import MAX_FILTER, Node, parse_filter
from hub.model.ids import CONTROL, ID_PART_PATTERN, SPACE, IdPart, WithoutNul
from hub.model.payload import problems, raise_invalid
from hub.model.query import bind_filter, check_types

Direction = Literal["inbound", "outbound"]
Entity = Annotated[str, WithJsonSchema({"type": "string", "enum": list(COLLECTIONS)})]
"""A collection's name, described as one: `_rules` refuses any other text, whatever its length (with every other
wrong field), in one 422."""


_NOT_IN_A_NAME = re.compile(r"[/\x00-\x1f\x7f-\x9f]")
"""`/` and Unicode's control characters (Cc): DEL and the C1 controls passed, U+009B opening a terminal's escape
sequence where a log shows the name."""


def _without_slash_or_control(name: object) -> object:
    """Refuse `/` and control characters, said in words (a pattern's refusal was the regular expression), before the
    surrounding spaces are dropped: a control character at an end (a tab, U+0085) was dropped with them."""
    if isinstance(name, str) and _NOT_IN_A_NAME.search(name):
        raise ValueError("must not hold '/' or a control character (U+0000 to U+001F, U+007F to U+009F)")
    return name


def _a_path_segment(name: str) -> str:
    """Refuse `.` and `..`: clients drop such a path segment before sending, so `…/integrations/..` never reached the
    integration its Location named."""
    if name in (".", ".."):
        raise ValueError("must not be '.' or '..' (a URL path drops those)")
    return name


_NAME_PATTERN = rf"^(?![{SPACE}]*\.{{0,2}}[{SPACE}]*$)[^/\x00-\x1f\x7f-\x9f]+$"
"""A name as described: no `/` or control character, and, once the surrounding spaces go, something other than
nothing, `.` or `..` (ECMA-262, as JSON Schema patterns are: the lookahead refuses what `_a_path_segment` and the
strip refuse)."""
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    BeforeValidator(_without_slash_or_control),
    AfterValidator(_a_path_segment),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 128, "pattern": _NAME_PATTERN}),
]
MAX_SCHEDULE = 31 * 24 * 3600
MAX_BATCH_SIZE = 1000
"""The most items one lease (and one webhook POST) hands out."""


def _url(value: str) -> str:
    """An absolute http(s) URL the webhook's client can POST to: a bad port, whitespace or a control character
    passed here and then made every delivery raise. Whitespace is Unicode's (a no-break space too), as README says."""
    if CONTROL.search(value) or any(c.isspace() for c in value):
        raise ValueError("must not hold whitespace or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = 0
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    if parts.username is not None:  # a password comes with one; shown in every answer, to the app's key too
        raise ValueError("must not hold a user or password: the hub signs each POST with the webhook's secret")
    if "#" in value:
        raise ValueError("must not hold a fragment (#…): a client never sends it to the server")
    return value


_URL_PATTERN = rf"^[hH][tT][tT][pP][sS]?://[^/?#@{SPACE}\x00-\x1f\x7f-\x9f]+(?:[/?][^#{SPACE}\x00-\x1f\x7f-\x9f]*)?$"
"""A webhook's URL as described: a scheme other than http(s), no authority, whitespace, a control character, a user
or a fragment is refused, as `_url` refuses them; the port's range and the network are the hub's checks alone."""


class Webhook(BaseModel):
    """Where the hub POSTs batches of the queue, and the secret it signs them with (never shown back)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    url: Annotated[
        str,
        StringConstraints(max_length=2048),
        AfterValidator(_url),
        WithJsonSchema({"type": "string", "maxLength": 2048, "pattern": _URL_PATTERN}),
    ]
    secret: Annotated[str, StringConstraints(min_length=16, max_length=256)]


ConsentType = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    WithoutNul,
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64, "pattern": ID_PART_PATTERN}),
]
"""A consent flow's name (`none`: the integration needs no consent), described as not blank: the spaces around it
go, and nothing left is refused."""


class Definition(BaseModel):
    """What a client sets; the defaults are what an integration gets when a field is left out."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Name
    entity: Entity
    direction: Direction
    provider: IdPart
    realm: IdPart
    filter: Annotated[str, StringConstraints(max_length=MAX_FILTER)] | None = None
    default_schedule: Annotated[int, Field(ge=0, le=MAX_SCHEDULE)] = 0
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)] = 100
    parallel: Annotated[int, Field(ge=1, le=16)] = 1
    include_update: bool = False
    continuous: bool = False
    consent_type: ConsentType = "none"
    managed: bool = False
    allow_schedule_change: bool = True
    notes: Text | None = None
    webhook: Webhook | None = None

    @property
    def app(self) -> tuple[str, str]:
        return (self.provider, self.realm)

    @classmethod
    def stored(cls, raw: dict[str, Any]) -> Definition:
        """A definition as a store holds it, checked when it was written, by the rules of then. Checked again, one a
        later rule refuses (a webhook URL with a fragment) failed every read of its group's integrations, and every
        write of its entity, which reads them to enqueue."""
        webhook = raw.get("webhook")
        return cls.model_construct(**{**raw, "webhook": Webhook.model_construct(**webhook) if webhook else None})


@dataclass
class Integration:
    """A definition as stored in a group, with what the hub keeps about it."""

    group_id: str
    definition: Definition
    created_at: str
    updated_at: str
    consented_at: str | None = None

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def needs_consent(self) -> bool:
        """A consent flow is named and the app has not consented yet: nothing is handed out."""
        return self.definition.consent_type != "none" and self.consented_at is None

    def redefine(self, definition: Definition, now: str) -> None:
        """Take an updated definition. A consent is given by one app to one flow: a new `consent_type` drops it, and
        so does another app (`provider` or `realm`), whose user never saw the flow."""
        old = self.definition
        if (definition.consent_type, definition.app) != (old.consent_type, old.app):
            self.consented_at = None
        self.definition, self.updated_at = definition, now

    @property
    def sends_webhooks(self) -> bool:
        """The hub POSTs the queue: a webhook is set and no consent is awaited."""
        return self.definition.webhook is not None and not self.needs_consent

    def keeps_queue_of(self, earlier: Integration) -> bool:
        """Whether this is `earlier` as it is now with the same queue: not deleted and made anew since, nor
        given another app, entity or direction (which empties the queue, leased items included)."""
        return self.created_at == earlier.created_at and keeps_queue(earlier.definition, self.definition)


@lru_cache(maxsize=512)
def bound_filter(entity: str, text: str) -> Node:
    """The parsed filter, checked against the entity's fields (cached: every write evaluates it)."""
    return bind_filter(COLLECTIONS[entity], parse_filter(text))


def _rules(definition: Definition, hub_provider: str, stored: Definition | None) -> list[dict[str, str]]:
    """The seed's cross-field rules, and the ones each effect needs. An update keeps the name (`stored`'s), which
    addresses the integration, and is judged here with the other fields, so that one 422 names them all. A filter an
    update keeps (`stored`'s, on the same entity) is not checked for its values' types: one stored before that check
    is evaluated as it was, and an update leaving it (a managed integration's schedule) was refused for it."""
    d = definition
    errors = []
    if stored is not None and d.name != stored.name:
        errors.append({"field": "name", "message": "cannot be changed: it addresses the integration; create a new one"})
    if d.provider == hub_provider:
        errors.append({"field": "provider", "message": f"{hub_provider!r} is the hub itself, not an app"})
    if d.entity not in COLLECTIONS:
        errors.append(
            {"field": "entity", "message": f"no collection {d.entity[:40]!r}; one of {', '.join(COLLECTIONS)}"}
        )
    elif d.filter is not None and d.filter.strip():
        try:
            bound_filter(d.entity, d.filter)  # raises on an unknown field or a text that is no date
            if stored is None or (stored.entity, stored.filter) != (d.entity, d.filter):
                check_types(COLLECTIONS[d.entity], parse_filter(d.filter))
        except HubError as error:
            errors.append({"field": "filter", "message": error.detail})
    outbound_only = ("include_update", "continuous", "webhook")
    if d.direction == "inbound":
        for name in outbound_only:
            if getattr(d, name):
                errors.append({"field": name, "message": "only outbound integrations have it"})
    if d.continuous and not d.include_update:
        errors.append({"field": "continuous", "message": "needs include_update: a continuous integration re-sends"})
    if d.continuous and d.default_schedule == 0:
        errors.append({"field": "default_schedule", "message": "a continuous integration needs a schedule above 0"})
    return errors


STAND_INS = {"name": "x", "entity": next(iter(COLLECTIONS)), "direction": "outbound", "provider": "x", "realm": "x"}
"""What a required field that is wrong on its own stands for while the rules between fields are judged."""


def _rules_beside(
    body: dict[str, Any], wrong: set[str], hub_provider: str, stored: Definition | None
) -> list[dict[str, str]]:
    """The errors of the rules between fields (and of the fields `_rules` checks) on the fields not wrong on their
    own, so that one 422 names every wrong field: each wrong one left out, or a stand-in for a required one (which
    fires no rule: a wrong `entity` leaves the filter unjudged)."""
    kept = {k: v for k, v in body.items() if k not in wrong}
    kept.update({k: v for k, v in STAND_INS.items() if k in wrong})
    if "entity" in wrong:
        kept.pop("filter", None)
    try:
        definition = Definition.model_validate(kept)
    except ValidationError:
        return []
    return [e for e in _rules(definition, hub_provider, stored) if e["field"] not in wrong]


def parse_definition(body: Any, hub_provider: str, stored: Definition | None = None) -> Definition:
    """A validated definition (`stored`: the one it updates), or a 422 listing every field that is wrong. The times
    an answer shows (`SHOWN_ONLY`) are passed over: an integration as read is taken back, by a PUT or, copied to
    another group, by a POST."""
    if not isinstance(body, dict):
        raise Invalid("an integration must be a JSON object")
    body = {k: v for k, v in body.items() if k not in SHOWN_ONLY}
    try:
        definition = Definition.model_validate(body)
    except ValidationError as error:
        wrong = problems(error)
        raise_invalid(wrong + _rules_beside(body, {e["field"].split(".")[0] for e in wrong}, hub_provider, stored))
    errors = _rules(definition, hub_provider, stored)
    if errors:
        raise_invalid(errors)
    return definition


SHOWN_ONLY = ("created_at", "updated_at", "consented_at")
"""What an answer shows beside the definition: the hub's to keep, passed over in a definition given."""


_REQUIRED = frozenset(name for name, info in Definition.model_fields.items() if info.is_required())


def updated(stored: Definition, changes: Any, hub_provider: str) -> Definition:
    """The stored definition with a partial update applied (a given `webhook` replaces the old one; `null` sets a
    field back to its default, which for most is none; given to a field no definition has, it is refused as any
    value of it is).

    An integration sent back as it was read is taken as it is: its times are passed over (`parse_definition`), and
    its webhook, shown without the secret, keeps the stored secret while it keeps the stored URL (at another URL
    the secret is asked for: the old one was given for the old address).
    """
    if not isinstance(changes, dict):
        raise Invalid("an integration update must be a JSON object")
    webhook = changes.get("webhook")
    kept = stored.webhook
    if isinstance(webhook, dict) and "secret" not in webhook and kept is not None and webhook.get("url") == kept.url:
        changes = {**changes, "webhook": {**webhook, "secret": kept.secret}}
    required = [k for k, v in changes.items() if v is None and k in _REQUIRED]
    if required:  # dropped as a null setting a field back to its default, each was answered "Field required"
        raise_invalid(
            [{"field": k, "message": "null sets a field back to its default, and it has none"} for k in required]
        )
    given = {**stored.model_dump(), **changes}
    merged = {k: v for k, v in given.items() if v is not None or k not in Definition.model_fields}
    return parse_definition(merged, hub_provider, stored)


def check_managing(stored: Definition | None, new: Definition, operator: bool) -> None:
    """403 for an app's key that makes an integration `managed` (creating it so, or setting it): the lock is the
    operator's, and an app that set it could change or delete its own integration no more. Sent back as it was
    read, on an integration managed already, it passes."""
    if new.managed and not (stored is not None and stored.managed) and not operator:
        raise Forbidden("managed: an integration is made managed by the operator: only an admin key may set it")


def check_locks(stored: Definition, new: Definition, override: bool) -> None:
    """`managed`: only the schedule may change; `allow_schedule_change` false: the schedule may not.

    `override` (the operator's) lifts both.
    """
    if override:
        return
    changed = sorted(name for name in Definition.model_fields if getattr(stored, name) != getattr(new, name))
    if stored.managed and set(changed) - {"default_schedule"}:
        raise Conflict(
            f"{stored.name!r} is managed: only its default_schedule can be changed here (asked: {', '.join(changed)})",
            fields=changed,
        )
    if "default_schedule" in changed and not stored.allow_schedule_change:
        raise Conflict(f"{stored.name!r} does not allow its schedule to be changed (allow_schedule_change is false)")


def keeps_queue(stored: Definition, new: Definition) -> bool:
    """Whether an update leaves the queue as it is. The queue is one app's backlog of one collection's changes:
    it goes when the integration stops being outbound, or its entity or app changes (its items were handed out
    after a switch back, or to another app). A new filter or `include_update` only decides what comes next."""
    return new.direction == "outbound" and (stored.entity, stored.app) == (new.entity, new.app)


def filter_of(definition: Definition) -> Node | None:
    """The definition's filter, parsed and bound; None when it has none."""
    text = definition.filter
    return bound_filter(definition.entity, text) if text is not None and text.strip() else None
