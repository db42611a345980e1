"""Events as an event log (spec §9.1): OCEL 2.0 JSON and IEEE 1849 XES fragments, pure.

The export routes stream a log page by page; this module turns one event, or one
entity's events, into the text of that piece. The mapping, and why, is docs/EXPORTS.md.

Object ids: an entity is `<sourceId>/<entityType>/<recordId>` with both names
percent-encoded (the path of its timeline, `/v1/entities/…`): stable across exports,
unique across sources (a source id is a UUID). An actor is its canonical actor id (a
UUID, the id of `/v1/actors/{id}`); the two kinds cannot collide, only entity ids hold `/`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import msgspec

from headwater.core.mapping import Mapping
from headwater.core.models import ActorView, RecordKey, StoredEvent
from headwater.core.timestamps import format_micros as _format_micros

#: an entity's events often share a timestamp (one version, several events), and each
#: is formatted again in the objects pass
format_micros = functools.lru_cache(maxsize=1 << 14)(_format_micros)

#: OCEL 2.0 has no "unknown" time: attributes that do not change over time carry the epoch
#: (the convention pm4py reads as "the object's initial value")
EPOCH = "1970-01-01T00:00:00Z"
ACTOR_TYPE = "actor"
_ENCODE = msgspec.json.Encoder()
_DECODE_CHANGES = msgspec.json.Decoder(list[dict[str, Any]])


@functools.lru_cache(maxsize=1 << 14)
def entity_object_id(source_id: str, key: RecordKey) -> str:
    """(Cached: an entity's id is written once per event and once for its object.)"""
    return f"{source_id}/{quote(key.entity_type, safe='')}/{quote(key.record_id, safe='')}"


def attribute_value(value: Any) -> str:
    """Every attribute is typed `string`: a field's values need not share one JSON type.
    A string stays as it is; anything else is its JSON text (`null`, `42`, `{"a":1}`)."""
    if isinstance(value, str):
        return value
    return _ENCODE.encode(value).decode()


def changes_of(event: StoredEvent) -> list[dict[str, Any]]:
    return _DECODE_CHANGES.decode(event.row.changes) if event.row.changes else []


@dataclass
class Declared:
    """The attribute names seen per event type and object type, for `eventTypes` and
    `objectTypes` (written after the events and objects, so nothing is held but names)."""

    event_types: dict[str, set[str]] = field(default_factory=dict)
    object_types: dict[str, set[str]] = field(default_factory=dict)

    def type_lists(self) -> bytes:
        def listed(types: dict[str, set[str]], typed: dict[str, str]) -> list[dict[str, Any]]:
            return [
                {
                    "name": name,
                    "attributes": [
                        {"name": a, "type": typed.get(a, "string")} for a in sorted(attributes)
                    ],
                }
                for name, attributes in sorted(types.items())
            ]

        object_typed = {"placeholder": "boolean"}
        return (
            b'"objectTypes":'
            + _ENCODE.encode(listed(self.object_types, object_typed))
            + b',"eventTypes":'
            + _ENCODE.encode(listed(self.event_types, {}))
        )


def ocel_event(event: StoredEvent, declared: Declared) -> bytes:
    """One OCEL 2.0 event: the fields it changed are its attributes (value: the new one)."""
    row = event.row
    attributes = [
        {"name": c["field"], "value": attribute_value(c.get("to"))} for c in changes_of(event)
    ]
    names = declared.event_types.setdefault(row.action, set())
    names.update(a["name"] for a in attributes)
    relationships = [{"objectId": entity_object_id(row.source_id, row.key), "qualifier": "entity"}]
    if row.actor_id is not None:
        relationships.append({"objectId": row.actor_id, "qualifier": "actor"})
    return _ENCODE.encode(
        {
            "id": row.id,
            "type": row.action,
            "time": format_micros(row.timestamp),
            "attributes": attributes,
            "relationships": relationships,
        }
    )


class EntityObject:
    """One entity's OCEL object, built from its events in time order: its display name
    and each status-like or assignment field (the mapping's), whenever a value changes.

    A creation event carries no changes, so its version's payload (`created_payload`)
    gives the fields' first values; later values come from the changes of every event
    but the mapping's `updated` one (a `_changed` or `_assigned` event changes one field;
    `updated` gathers the other fields, which are not attributes)."""

    def __init__(self, source_id: str, key: RecordKey, mapping: Mapping) -> None:
        self.source_id = source_id
        self.key = key
        self.fields = (mapping.status_fields | set(mapping.assignment_fields)) - (
            mapping.ignore_fields
        )
        self.created_action = mapping.action(key.entity_type, "created")
        self.updated_action = mapping.action(key.entity_type, "updated")
        self.attributes: list[dict[str, str]] = []
        self._values: dict[str, str] = {}

    def _set(self, name: str, value: str, time: str) -> None:
        if self._values.get(name) != value:
            self._values[name] = value
            self.attributes.append({"name": name, "time": time, "value": value})

    def add(self, event: StoredEvent, created_payload: AnyMapping[str, Any] | None) -> None:
        row = event.row
        time = format_micros(row.timestamp)
        if row.entity_name is not None:
            self._set("name", row.entity_name, time)
        if created_payload is not None:
            for name in sorted(self.fields & created_payload.keys()):
                self._set(name, attribute_value(created_payload[name]), time)
        if row.action == self.updated_action:
            return
        for change in changes_of(event):
            self._set(change["field"], attribute_value(change.get("to")), time)

    def encode(self, declared: Declared) -> bytes:
        names = declared.object_types.setdefault(self.key.entity_type, set())
        names.update(a["name"] for a in self.attributes)
        return _ENCODE.encode(
            {
                "id": entity_object_id(self.source_id, self.key),
                "type": self.key.entity_type,
                "attributes": self.attributes,
                "relationships": [],
            }
        )


def ocel_actor(actor: ActorView, declared: Declared) -> bytes:
    """A canonical actor; its current email and name (OCEL: the initial value, at the epoch)."""
    attributes: list[dict[str, Any]] = [
        {"name": name, "time": EPOCH, "value": value}
        for name, value in (("email", actor.email), ("name", actor.name))
        if value is not None
    ]
    attributes.append(
        {"name": "placeholder", "time": EPOCH, "value": "true" if actor.placeholder else "false"}
    )
    declared.object_types.setdefault(ACTOR_TYPE, set()).update(a["name"] for a in attributes)
    return _ENCODE.encode(
        {"id": actor.id, "type": ACTOR_TYPE, "attributes": attributes, "relationships": []}
    )


# ---------------------------------------------------------------------------------- XES

#: characters XML 1.0 does not allow at all (not even as character references): C0 controls
#: but tab, newline and carriage return, lone surrogates, U+FFFE and U+FFFF
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: text with none of the characters below, nor any XML 1.0 cannot carry
_PLAIN = re.compile('[^\x00-\x1f&<>"\x85\u2028\u2029\ud800-\udfff\ufffe\uffff]*')
_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;",
     "\r": "&#13;", "\x85": "&#133;", "\u2028": "&#8232;", "\u2029": "&#8233;"}
)  # fmt: skip


def xml_attr(text: str) -> str:
    """A value for a double-quoted XML attribute. Characters XML 1.0 cannot carry become
    U+FFFD (the log stays well-formed; the verbatim payload is one API call away);
    tab, newline and CR are character references, so a parser keeps them (XML would
    otherwise normalize them to spaces), and so are the other line separators (NEL,
    U+2028, U+2029), so that every line of the document stays one line to any reader."""
    if _PLAIN.fullmatch(text):  # most values: nothing to replace or escape
        return text
    return _NOT_XML.sub("\ufffd", text).translate(_ESCAPES)


XES_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">'
    '<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>'
    '<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>'
    '<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>'
    '<extension name="Identity" prefix="identity" '
    'uri="http://www.xes-standard.org/identity.xesext"/>'
    '<global scope="trace"><string key="concept:name" value="__INVALID__"/></global>'
    '<global scope="event"><string key="concept:name" value="__INVALID__"/>'
    '<date key="time:timestamp" value="1970-01-01T00:00:00Z"/></global>'
    '<classifier name="Activity" keys="concept:name"/>'
    '<string key="concept:name" value="Headwater events"/>'
)
XES_TAIL = "</log>\n"


def xes_trace_open(source_id: str, key: RecordKey) -> str:
    return (
        f'<trace><string key="concept:name" value="{xml_attr(entity_object_id(source_id, key))}"/>'
        f'<string key="sourceId" value="{source_id}"/>'
        f'<string key="entityType" value="{xml_attr(key.entity_type)}"/>'
        f'<string key="recordId" value="{xml_attr(key.record_id)}"/>'
    )


XES_TRACE_CLOSE = "</trace>"


def xes_event(event: StoredEvent) -> str:
    """One event on one line (the line count is the client's progress)."""
    row = event.row
    resource = ""
    if event.actor is not None:
        who = event.actor.email or event.actor.name
        if who:
            resource = f'<string key="org:resource" value="{xml_attr(who)}"/>'
    return (
        f'<event><string key="concept:name" value="{xml_attr(row.action)}"/>'
        f'<date key="time:timestamp" value="{format_micros(row.timestamp)}"/>'
        f'<id key="identity:id" value="{row.id}"/>{resource}</event>\n'
    )
