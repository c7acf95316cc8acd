"""A supplier's EPCIS 2.0 document as Cairn statements (`cairn import --epcis`).

The inverse of cairn_core.epcis: each event of the document's eventList
becomes one unsigned statement of the importing organisation, or the reason
it cannot (`Unmapped`), which the import lists rather than guesses:

- events of another party (`cairn:issuer` naming another organisation):
  only their issuer can sign them;
- events no Cairn statement says (an AggregationEvent, a TransactionEvent,
  an OBSERVE that is neither shipping nor inspecting);
- quantities Cairn would have to invent: an input or output without a
  quantity or a unit, an output without its `cairn:` material and value;
- identifiers that are not the ledger's URIs (cairn_core.epcis_ids), and a
  document without the `cairn` namespace that says which ledger they are of.

The statements carry no `prev` (the import fills each from the ledger) and
no `issued_at` (the time they are signed); `occurred_at` is the eventTime.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from cairn_core.epcis_ids import UNIT_OF_UOM, IdentifierError, Identifiers, decimal_text

CBV_PREFIXES = ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:")
Statement = dict[str, Any]


class Unmapped(ValueError):
    """An event that is no statement of the importer's (the reason says why)."""


def identifiers_of(document: Mapping[str, Any]) -> Identifiers:
    """The ledger the document's URIs belong to, by its `cairn` namespace."""
    contexts = document.get("@context")
    for item in contexts if isinstance(contexts, list) else [contexts]:
        if isinstance(item, Mapping) and isinstance(item.get("cairn"), str):
            return Identifiers.from_namespace(item["cairn"])
    raise IdentifierError("the document declares no `cairn` namespace in its @context")


def event_list(document: object) -> list[Any]:
    if not isinstance(document, Mapping) or document.get("type") != "EPCISDocument":
        raise Unmapped("not an EPCIS 2.0 EPCISDocument")
    events = (document.get("epcisBody") or {}).get("eventList")
    if not isinstance(events, list):
        raise Unmapped("the document has no epcisBody.eventList")
    return events


def statements_of(document: Mapping[str, Any], *, issuer: str) -> list[Statement | Unmapped]:
    """One statement (or the reason there is none) for each event, in order."""
    events = event_list(document)
    try:
        ids = identifiers_of(document)
    except IdentifierError as exc:
        return [Unmapped(str(exc)) for _ in events]
    reader = EventReader(ids, issuer, lots_of(events, ids, issuer))
    results: list[Statement | Unmapped] = []
    for event in events:
        try:
            results.append(reader.statement(event))
        except (Unmapped, IdentifierError) as exc:
            results.append(Unmapped(str(exc)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            results.append(Unmapped(f"not an event Cairn can read: {exc!r}"))
    return results


def lots_of(events: list[Any], ids: Identifiers, issuer: str) -> dict[str, str]:
    """Each GS1 Digital Link a creating event of the document names, as the
    batch id of that event's issuer (a Digital Link carries no issuer)."""
    lots: dict[str, str] = {}
    for event in events:
        if not isinstance(event, Mapping):
            continue
        outputs = (event.get("ilmd") or {}).get("cairn:outputs") or []
        maker = ids.slug_of(event["cairn:issuer"]) if "cairn:issuer" in event else issuer
        for output in outputs:
            uri = output.get("cairn:batch") if isinstance(output, Mapping) else None
            if isinstance(uri, str) and uri.startswith("https://id.gs1.org/01/"):
                parts = uri.split("/")  # https: '' id.gs1.org 01 GTIN 10 lot
                lots[uri] = f"{maker}:{parts[4]}.{parts[6]}"
    return lots


def biz_step(event: Mapping[str, Any]) -> str:
    step = str(event.get("bizStep") or "")
    for prefix in CBV_PREFIXES:
        step = step.removeprefix(prefix)
    return step


def occurred_at(event: Mapping[str, Any]) -> str:
    when = dt.datetime.fromisoformat(str(event["eventTime"]).replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise Unmapped(f"eventTime {event['eventTime']} has no zone offset")
    when = when.astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S" + (".%f" if when.microsecond else "") + "Z")


class EventReader:
    """Events of one document as statements of `issuer`."""

    def __init__(self, ids: Identifiers, issuer: str, lots: dict[str, str]) -> None:
        self.ids, self.issuer, self.lots = ids, issuer, lots

    def statement(self, event: object) -> Statement:
        if not isinstance(event, Mapping):
            raise Unmapped("an event is a JSON object")
        party = self.ids.slug_of(event["cairn:issuer"]) if "cairn:issuer" in event else self.issuer
        if party != self.issuer:
            raise Unmapped(f"an event of {party}: only {party} can sign it")
        kind = self.kind(event)
        statement: Statement = {"type": kind, "issuer": self.issuer, "occurred_at": occurred_at(event)}
        statement.update(getattr(self, kind)(event))
        return statement

    @staticmethod
    def kind(event: Mapping[str, Any]) -> str:
        kinds = {
            ("ObjectEvent", "ADD", "commissioning"): "origin",
            ("ObjectEvent", "OBSERVE", "shipping"): "transfer",
            ("ObjectEvent", "OBSERVE", "inspecting"): "certify",
            ("AssociationEvent", "ADD", "installing"): "claim",
        }
        if event.get("type") == "TransformationEvent":
            return "transform"
        key = (event.get("type"), event.get("action"), biz_step(event))
        if key not in kinds:
            what = " ".join(str(part) for part in key if part)
            raise Unmapped(f"{what}: no Cairn statement says what this event says")
        return kinds[key]

    def batch(self, uri: object) -> str:
        return self.ids.batch_id(str(uri), lots=self.lots)

    def quantity(self, element: Mapping[str, Any], what: str) -> tuple[str, str, str | None]:
        """(batch, quantity, unit or None) of a quantity element."""
        if "quantity" not in element:
            raise Unmapped(f"{what} {element.get('epcClass')} has no quantity: Cairn does not guess amounts")
        uom = element.get("uom")
        if uom is not None and uom not in UNIT_OF_UOM:
            raise Unmapped(f"{what} {element.get('epcClass')}: unit {uom!r} is neither KGM nor H87")
        return self.batch(element["epcClass"]), decimal_text(element["quantity"]), UNIT_OF_UOM.get(uom or "")

    def site(self, event: Mapping[str, Any]) -> dict[str, str]:
        place = event.get("bizLocation") or event.get("readPoint") or {}
        return self.ids.site_of(str(place.get("id")))

    def outputs(self, elements: list[Mapping[str, Any]], ilmd: Mapping[str, Any]) -> list[Statement]:
        details = {item["cairn:batch"]: item for item in ilmd.get("cairn:outputs") or []}
        outputs = []
        for element in elements:
            batch, quantity, unit = self.quantity(element, "output")
            about = details.get(element["epcClass"])
            if unit is None or about is None:
                raise Unmapped(f"output {element['epcClass']} needs a uom and its cairn:outputs entry in ilmd")
            output: Statement = {
                "batch": batch,
                "material": about["cairn:material"],
                "quantity": quantity,
                "unit": unit,
                "value_added_usd": decimal_text(about["cairn:value_added_usd"]),
            }
            if "cairn:component" in about:
                output["component"] = about["cairn:component"]
            if "cairn:minerals" in about:
                output["minerals"] = {m["cairn:mineral"]: decimal_text(m["cairn:kg"]) for m in about["cairn:minerals"]}
            outputs.append(output)
        return outputs

    def origin(self, event: Mapping[str, Any]) -> Statement:
        ilmd = event.get("ilmd") or {}
        return {
            "activity": ilmd.get("cairn:activity"),
            "site": self.site(event),
            "outputs": self.outputs(event.get("quantityList") or [], ilmd),
        }

    def transform(self, event: Mapping[str, Any]) -> Statement:
        ilmd = event.get("ilmd") or {}
        inputs = [self.quantity(element, "input") for element in event.get("inputQuantityList") or []]
        if event.get("inputEPCList") or event.get("outputEPCList"):
            raise Unmapped("a transformation of instance-level EPCs: Cairn batches are counted in quantities")
        return {
            "activity": ilmd.get("cairn:activity"),
            "site": self.site(event),
            "inputs": [{"batch": batch, "quantity": quantity} for batch, quantity, _ in inputs],
            "outputs": self.outputs(event.get("outputQuantityList") or [], ilmd),
        }

    def one_batch(self, event: Mapping[str, Any], elements: str = "quantityList") -> str:
        listed = event.get(elements) or []
        if len(listed) != 1 or event.get("epcList"):
            raise Unmapped("a Cairn transfer, certification or claim names exactly one batch")
        return self.batch(listed[0]["epcClass"])

    def transfer(self, event: Mapping[str, Any]) -> Statement:
        owners = [d["destination"] for d in event.get("destinationList") or [] if d.get("type") == "owning_party"]
        if len(owners) != 1:
            raise Unmapped("a shipping event without one owning_party destination: to whom?")
        return {"batch": self.one_batch(event), "to": self.ids.slug_of(owners[0])}

    def certify(self, event: Mapping[str, Any]) -> Statement:
        if "cairn:statement" not in event:
            raise Unmapped("an inspection without its cairn:statement")
        documents = [{"name": d["cairn:name"], "sha256": d["cairn:sha256"]} for d in event.get("cairn:documents") or []]
        return {
            "batch": self.one_batch(event),
            "statement": json.loads(event["cairn:statement"]),
            "documents": documents,
        }

    def claim(self, event: Mapping[str, Any]) -> Statement:
        (element,) = event.get("childQuantityList") or [{}]
        batch, quantity, _ = self.quantity(element, "pack")
        return {
            "batch": batch,
            "quantity": quantity,
            "vin": self.ids.vin_of(str(event.get("parentID"))),
            "acquired": event["cairn:acquired"],
            "placed_in_service": event["cairn:placed_in_service"],
            "final_assembly": self.site(event),
        }
