"""Cairn's logged statements as a GS1 EPCIS 2.0 JSON-LD document (contract §11).

One event per logged statement, in log order:

| statement | EPCIS event | action, bizStep, disposition |
|---|---|---|
| origin | ObjectEvent | ADD, commissioning, active |
| transform (processing, manufacturing) | TransformationEvent | creating_class_instance, active |
| transform (assembly; split) | TransformationEvent | assembling; repackaging, active |
| transfer | ObjectEvent | OBSERVE, shipping, in_transit |
| certify | ObjectEvent | OBSERVE, inspecting, with certificationInfo |
| claim | AssociationEvent | ADD, installing (the pack into the vehicle) |
| supplier_certification (§45X) | ObjectEvent | OBSERVE, other |
| sale (§45X) | ObjectEvent | OBSERVE, other |

Every event carries, in the `cairn` namespace its document declares, the
entry's `cairn:index`, `cairn:entry_hash` and `cairn:leaf_hash` (the proof
fields) and its `cairn:issuer`; what EPCIS has no field for (materials,
values added, minerals, the certifier's statement as JSON text, a claim's
dates) is in
`cairn:` fields too, so that a document maps back to the statements
(cairn_core.epcis_import). The §45X statements (docs/contract-45x.md) map
one way only, and show less than they sign: a supplier certification its
taxpayer, year, status and two statements about prohibited foreign
entities, never the supplier's taxpayer id or costs; a sale its quantity,
date and the buyer's country; a transform's inputs never their direct
material cost (the entry's readers read them in the entry itself). Quantities are JSON numbers written exactly as
the decimal strings they come from; identifiers are cairn_core.epcis_ids'.
`eventTime` is the statement's `occurred_at` (else `issued_at`), `recordTime`
the entry's `integrated_time`, both with their zone offset (+00:00).

Each `eventID` is the event's EPCIS event hash (CBV 2.0 §8.9,
`ni:///sha-256;…?ver=CBV2.0`) computed by GS1's reference implementation,
epcis-event-hash-generator, over the event as published.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple, Protocol

from cairn_core.epcis_ids import UOM, Identifiers, number

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
MEDIA_TYPE = "application/ld+json"
PROOF_FIELDS = ("cairn:index", "cairn:entry_hash", "cairn:leaf_hash")
# Fields that depend on the log rather than on what happened: a statement
# logged again (another ledger, another time) differs from the first only there.
LOG_FIELDS = (*PROOF_FIELDS, "recordTime", "eventID")
BIZ_STEP = {
    "processing": "creating_class_instance",
    "manufacturing": "creating_class_instance",
    "assembly": "assembling",
    "split": "repackaging",
}

Event = dict[str, Any]


class LoggedStatement(NamedTuple):
    """A logged attestation: where it is in the log and what it says."""

    log_index: int
    entry_hash: str
    leaf_hash: str
    integrated_time: int
    statement: Mapping[str, Any]


def context(ids: Identifiers) -> list[object]:
    """The documents' @context: EPCIS 2.0's, and the `cairn` namespace."""
    return [EPCIS_CONTEXT, {"cairn": ids.namespace}]


def json_text(value: object) -> str:
    """A certifier's free-form statement as one string (sorted keys, no spaces):
    its own keys are no terms of any JSON-LD vocabulary."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rfc3339(moment: str | int) -> str:
    """A contract timestamp or unix seconds, with its zone offset written out."""
    if isinstance(moment, int):
        when = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
    else:
        when = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return when.astimezone(dt.UTC).isoformat()


def units_of(statements: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each batch the statements create, with its unit (inputs name theirs by batch)."""
    return {
        output["batch"]: output["unit"]
        for statement in statements
        for output in statement.get("outputs") or ()
        if isinstance(output, Mapping)
    }


class Mapper:
    """Statements as events under one ledger's identifiers."""

    def __init__(self, ids: Identifiers, units: Mapping[str, str]) -> None:
        self.ids, self.units = ids, units

    def event(self, logged: LoggedStatement) -> Event:
        statement = logged.statement
        kind = statement["type"]
        event: Event = {
            "type": "",
            "eventTime": rfc3339(statement.get("occurred_at") or statement["issued_at"]),
            "eventTimeZoneOffset": "+00:00",
            "recordTime": rfc3339(logged.integrated_time),
        }
        event.update(getattr(self, kind)(statement))
        event["cairn:issuer"] = self.ids.party(statement["issuer"])
        event.update(zip(PROOF_FIELDS, (logged.log_index, logged.entry_hash, logged.leaf_hash), strict=True))
        return event

    def quantity(self, batch: str, quantity: str | None = None, unit: str | None = None) -> dict[str, object]:
        element: dict[str, object] = {"epcClass": self.ids.batch(batch)}
        unit = unit or self.units.get(batch)
        if quantity is not None:
            element["quantity"] = number(quantity)
            if unit is not None:
                element["uom"] = UOM[unit]
        return element

    def output(self, output: Mapping[str, Any]) -> dict[str, object]:
        details: dict[str, object] = {
            "cairn:batch": self.ids.batch(output["batch"]),
            "cairn:material": output["material"],
            "cairn:value_added_usd": number(output["value_added_usd"]),
        }
        if "component" in output:
            details["cairn:component"] = output["component"]
        if "minerals" in output:
            details["cairn:minerals"] = [
                {"cairn:mineral": name, "cairn:kg": number(kg)} for name, kg in sorted(output["minerals"].items())
            ]
        return details

    def _made(self, statement: Mapping[str, Any]) -> dict[str, object]:
        site = self.ids.site(statement["site"]["name"], statement["site"]["country"])
        return {
            "readPoint": {"id": site},
            "bizLocation": {"id": site},
            "ilmd": {
                "cairn:activity": statement["activity"],
                "cairn:outputs": [self.output(output) for output in statement["outputs"]],
            },
        }

    def origin(self, statement: Mapping[str, Any]) -> dict[str, object]:
        outputs = statement["outputs"]
        return {
            "type": "ObjectEvent",
            "action": "ADD",
            "epcList": [],
            "quantityList": [self.quantity(o["batch"], o["quantity"], o["unit"]) for o in outputs],
            "bizStep": "commissioning",
            "disposition": "active",
            **self._made(statement),
        }

    def transform(self, statement: Mapping[str, Any]) -> dict[str, object]:
        return {
            "type": "TransformationEvent",
            "inputQuantityList": [self.quantity(i["batch"], i["quantity"]) for i in statement["inputs"]],
            "outputQuantityList": [self.quantity(o["batch"], o["quantity"], o["unit"]) for o in statement["outputs"]],
            "bizStep": BIZ_STEP[statement["activity"]],
            "disposition": "active",
            **self._made(statement),
        }

    def transfer(self, statement: Mapping[str, Any]) -> dict[str, object]:
        # The whole batch changes hands: no quantity (contract §3).
        return {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "epcList": [],
            "quantityList": [self.quantity(statement["batch"])],
            "bizStep": "shipping",
            "disposition": "in_transit",
            "sourceList": [{"type": "owning_party", "source": self.ids.party(statement["issuer"])}],
            "destinationList": [{"type": "owning_party", "destination": self.ids.party(statement["to"])}],
        }

    def certify(self, statement: Mapping[str, Any]) -> dict[str, object]:
        documents = statement.get("documents") or []
        return {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "epcList": [],
            "quantityList": [self.quantity(statement["batch"])],
            "bizStep": "inspecting",
            "certificationInfo": [document_uri(d["sha256"]) for d in documents],
            "cairn:statement": json_text(statement["statement"]),
            "cairn:documents": [{"cairn:name": d["name"], "cairn:sha256": d["sha256"]} for d in documents],
        }

    def claim(self, statement: Mapping[str, Any]) -> dict[str, object]:
        site = statement["final_assembly"]
        return {
            "type": "AssociationEvent",
            "parentID": self.ids.vehicle(statement["vin"]),
            "childQuantityList": [self.quantity(statement["batch"], statement["quantity"])],
            "action": "ADD",
            "bizStep": "installing",
            "bizLocation": {"id": self.ids.site(site["name"], site["country"])},
            "cairn:acquired": statement["acquired"],
            "cairn:placed_in_service": statement["placed_in_service"],
        }

    def supplier_certification(self, statement: Mapping[str, Any]) -> dict[str, object]:
        certification: dict[str, object] = {
            "cairn:taxpayer": self.ids.party(statement["taxpayer"]),
            "cairn:taxable_year": statement["taxable_year"],
            "cairn:status": statement["status"],
        }
        if statement["status"] == "certified":
            certification["cairn:not_produced_by_pfe"] = statement["not_produced_by_pfe"]
            certification["cairn:no_knowledge_of_prior_pfe"] = statement["no_knowledge_of_prior_pfe"]
        return {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "epcList": [],
            "quantityList": [self.quantity(statement["batch"])],
            "bizStep": "other",
            "cairn:certification": certification,
        }

    def sale(self, statement: Mapping[str, Any]) -> dict[str, object]:
        return {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "epcList": [],
            "quantityList": [self.quantity(statement["batch"], statement["quantity"])],
            "bizStep": "other",
            "cairn:sold_on": statement["sold_on"],
            "cairn:buyer_country": statement["buyer"]["country"],
        }


def document_uri(sha256_hex: str) -> str:
    """A certification document by its digest, as an RFC 6920 `ni` URI."""
    digest = base64.urlsafe_b64encode(bytes.fromhex(sha256_hex)).rstrip(b"=").decode("ascii")
    return f"ni:///sha-256;{digest}"


def document(
    entries: Sequence[LoggedStatement],
    ids: Identifiers,
    *,
    created: str,
    units: Mapping[str, str] | None = None,
    known_ids: EventIdCache | None = None,
) -> dict[str, object]:
    """The EPCISDocument of `entries` (in log order), every event with its eventID.

    `known_ids`: event hashes computed before (see `assign_event_ids`)."""
    mapper = Mapper(ids, units_of(e.statement for e in entries) if units is None else units)
    events = [mapper.event(logged) for logged in sorted(entries, key=lambda e: e.log_index)]
    epcis_document: dict[str, object] = {
        "@context": context(ids),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(created),
        "epcisBody": {"eventList": events},
    }
    assign_event_ids(epcis_document, known_ids)
    return epcis_document


def header(ids: Identifiers, *, created: str) -> dict[str, object]:
    """An EPCISDocument without events."""
    return {
        "@context": context(ids),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": rfc3339(created),
        "epcisBody": {"eventList": []},
    }


def event_texts(entries: Sequence[LoggedStatement], ids: Identifiers, units: Mapping[str, str]) -> list[str]:
    """Each entry's event, with its eventID, as the JSON text `document_text`
    splices in; `units`: the unit of each batch the entries name but do not
    make (fixed when that batch was made)."""
    mapper = Mapper(ids, {**units, **units_of(e.statement for e in entries)})
    events = [mapper.event(logged) for logged in entries]
    part = header(ids, created="1970-01-01T00:00:00Z")
    part["epcisBody"] = {"eventList": events}
    for event, event_hash in zip(events, event_hashes(part) if events else [], strict=True):
        event["eventID"] = event_hash
    return [dumps(event) for event in events]


def document_text(ids: Identifiers, *, created: str, events: Iterable[str]) -> str:
    """The EPCISDocument of events written by `event_texts`, as JSON text."""
    empty = dumps(header(ids, created=created))
    if not empty.endswith("[]}}"):
        raise AssertionError("an EPCISDocument's JSON text ends with its eventList")
    return empty[: -len("]}}")] + ",".join(events) + "]}}"


def derivation(ids: Identifiers) -> str:
    """What an entry's event is a function of besides the entry (and the units
    of the batches it names): the mapping's version and the documents'
    @context. A stored event of another derivation is derived again."""
    identity = f"{MAPPING_VERSION}|{json.dumps(context(ids), sort_keys=True)}"
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


# --- event hash IDs -----------------------------------------------------------------

# The generator keeps module-level state while it works (its namespaces,
# the join string): one document at a time.
_HASHING = threading.Lock()


class EventHashError(ValueError):
    """The reference implementation could not hash every event."""


class EventIdCache(Protocol):
    """Where event hashes computed before are kept (Django's cache fits)."""

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]: ...

    def set_many(self, data: dict[str, Any], timeout: int | None = ...) -> Any: ...


# The mapping's version: part of every cached event hash's key, so that a
# change of what an entry's event says can never be served an old hash.
MAPPING_VERSION = "1"


def event_key(event: Mapping[str, Any], namespace: str) -> str:
    """What an exported event is a function of: its entry (index, entry_hash,
    leaf_hash: the statement and the integrated time, which never change),
    the namespace (the ledger's URIs) and the mapping's version."""
    fields = [event[name] for name in PROOF_FIELDS]
    identity = f"{MAPPING_VERSION}|{namespace}|{fields[0]}|{fields[1]}|{fields[2]}"
    return "cairn-epcis-event:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()


def assign_event_ids(epcis_document: dict[str, Any], known_ids: EventIdCache | None = None) -> None:
    """Set each event's eventID to its CBV 2.0 event hash. The reference
    implementation takes about 10 ms an event, so hashes already computed for
    the same entry's event under the same context are taken from `known_ids`
    (see `event_key`), and the new ones stored there."""
    events: list[Event] = epcis_document["epcisBody"]["eventList"]
    namespace = json.dumps(epcis_document["@context"], sort_keys=True)
    keys = [event_key(event, namespace) for event in events]
    known = known_ids.get_many(keys) if known_ids is not None else {}
    missing = [i for i, key in enumerate(keys) if not isinstance(known.get(key), str)]
    if missing:
        part = {**epcis_document, "epcisBody": {"eventList": [events[i] for i in missing]}}
        computed = dict(zip((keys[i] for i in missing), event_hashes(part), strict=True))
        if known_ids is not None:
            known_ids.set_many(computed, None)
        known = {**known, **computed}
    for event, key in zip(events, keys, strict=True):
        event["eventID"] = known[key]


class _GeneratorChatter(logging.Filter):
    """The generator logs every event it reads at INFO on the root logger; an
    export of a thousand events would fill a server's log with them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "epcis_event_hash_generator" not in record.pathname


_ROOT_FILTER = _GeneratorChatter()


def event_hashes(epcis_document: Mapping[str, object]) -> list[str]:
    """Each event's CBV 2.0 event hash, in order, over the event as published
    (its eventID left out, as the algorithm does), by GS1's reference
    implementation."""
    from epcis_event_hash_generator import hash_generator, json_to_py  # type: ignore[import-untyped]

    plain = json.loads(dumps(epcis_document))
    contexts = plain.get("@context")
    remote = [c for c in (contexts if isinstance(contexts, list) else [contexts]) if isinstance(c, str)]
    if any(url != EPCIS_CONTEXT for url in remote):
        # the generator would fetch any other context over the network
        raise EventHashError(f"a document's remote @context is EPCIS 2.0's alone ({EPCIS_CONTEXT}), not {remote}")
    logging.getLogger().addFilter(_ROOT_FILTER)  # once: a logger keeps a filter only once
    with _HASHING:
        events = json_to_py.event_list_from_epcis_document_json(plain)
        hashes: list[str] = hash_generator.epcis_hashes_from_events(events)
    if len(hashes) != len(plain["epcisBody"]["eventList"]):
        # the generator skips an event it cannot read; never misalign the IDs
        raise EventHashError("the event hash generator could not read every event")
    return hashes


# --- exact numbers ---------------------------------------------------------------------

_NUMBER = re.compile(r'"\\u0000number:(-?[0-9]+(?:\.[0-9]+)?)\\u0000"')


def _number_mark(value: object) -> str:
    if isinstance(value, Decimal):
        return f"\x00number:{value:f}\x00"
    raise TypeError(f"{type(value).__name__} is not JSON")


def dumps(epcis_document: Mapping[str, object], *, indent: int | None = None) -> str:
    """The document as JSON text, each Decimal written as the exact number it is
    (json would go through float). A NUL never occurs in a stored statement
    (cairn_core.payload refuses it), so the marks cannot collide with data."""
    text = json.dumps(epcis_document, indent=indent, ensure_ascii=False, default=_number_mark)
    return _NUMBER.sub(r"\1", text)


def without_log_fields(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the event says, without where and when a log recorded it."""
    return {key: value for key, value in event.items() if key not in LOG_FIELDS}
