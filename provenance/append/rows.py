"""The rows an append writes, one NamedTuple per table, and how a checked
statement becomes them.

Each row type's fields are its model's field names in the order the row
gives them, and the table's columns for provenance.append.sql are read from those
names (`ENTRY` … `LOG_STATE`), so a row and its columns cannot disagree.
Values are as the model fields take them (decimals, dates, JSON as Python
values; foreign keys as the key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from cairn_core import amounts, merkle
from cairn_core.entries import stored_leaf_input
from cairn_core.payload import Site, Statement
from cairn_core.regimes.s30d.rules import RuleSet
from provenance.append import sql
from provenance.append.pending import Pending, Receipt
from provenance.linking import planned_agreements
from provenance.models import (
    Batch,
    BatchLink,
    Claim,
    Entry,
    EntryAgreementLink,
    EntrySignature,
    LinkRole,
    LogState,
    MerkleNode,
)


class EntryRow(NamedTuple):
    # The model's field is `index`; rows never use tuple.index.
    index: int  # type: ignore[assignment]
    entry_hash: str
    envelope: str
    integrated_time: int
    leaf_hash: str
    type: str
    issuer: str
    issued_at: dt.datetime
    occurred_at: dt.datetime
    statement: object
    submitted_by: int | None


class SignatureRow(NamedTuple):
    entry: int
    key: str
    organization: str
    is_issuer: bool


class BatchRow(NamedTuple):
    """A batch the append creates, as it stands once its batch is written."""

    id: str
    owner: str
    material: str
    unit: str
    quantity: Decimal
    consumed: Decimal
    custodian: str
    head: str
    created_by: int
    site_country: str
    minerals: dict[str, str]
    carries: list[str]
    value_added_usd: Decimal
    component: str


class BatchHeadRow(NamedTuple):
    """An existing batch's new head, consumption and custodian (an update by id)."""

    id: str
    head: str
    consumed: Decimal
    custodian: str


class LinkRow(NamedTuple):
    entry: int
    batch: str
    role: str
    prev: str
    quantity: Decimal | None
    custodian_before: str | None
    custodian_after: str


class ClaimRow(NamedTuple):
    vin: str
    entry: int
    batch: str
    manufacturer: str
    acquired: dt.date | None
    placed_in_service: dt.date | None
    final_assembly_country: str


class NodeRow(NamedTuple):
    id: int
    hash: str


class AgreementLinkRow(NamedTuple):
    entry: int
    agreement: str
    mineral: str
    country: str
    rules_version: str
    linked_at: dt.datetime


class LogStateRow(NamedTuple):
    id: int
    size: int
    frontier: list[str]


# The columns each row type fills, for provenance.append.sql.
ENTRY = sql.columns(Entry, *EntryRow._fields)
SIGNATURE = sql.columns(EntrySignature, *SignatureRow._fields)
BATCH = sql.columns(Batch, *BatchRow._fields)
BATCH_HEAD = sql.columns(Batch, *BatchHeadRow._fields)
LINK = sql.columns(BatchLink, *LinkRow._fields)
CLAIM = sql.columns(Claim, *ClaimRow._fields)
NODE = sql.columns(MerkleNode, *NodeRow._fields)
AGREEMENT_LINK = sql.columns(EntryAgreementLink, *AgreementLinkRow._fields)
LOG_STATE = sql.columns(LogState, *LogStateRow._fields)


@dataclass
class NewEntry:
    """An entry the batch will write: its row, its receipt, and what links it
    to agreements (origin and transform: its site's country, the minerals it
    carries, the day it occurred)."""

    row: EntryRow
    receipt: Receipt
    country: str | None = None
    minerals: tuple[str, ...] = ()
    occurred_on: dt.date | None = None


def new_entry(item: Pending, index: int, now: dt.datetime) -> NewEntry:
    """The entry at `index`, integrated at `now`."""
    statement, envelope = item.statement, item.envelope
    stored = item.stored_envelope
    integrated_time = int(now.timestamp())
    leaf_hash = merkle.leaf_hash(stored_leaf_input(stored, integrated_time)).hex()
    row = EntryRow(
        index=index,
        entry_hash=envelope.entry_hash,
        envelope=stored,
        integrated_time=integrated_time,
        leaf_hash=leaf_hash,
        type=statement.type,
        issuer=statement.issuer,
        issued_at=statement.issued_at,
        occurred_at=statement.occurred_at,
        statement=statement.raw,
        submitted_by=item.caller.user_id,
    )
    return NewEntry(row, Receipt(envelope.entry_hash, integrated_time, leaf_hash, index))


def site_of(statement: Statement) -> Site:
    """The site of an origin or transform (the payload's schema requires one)."""
    if statement.site is None:
        raise ValueError(f"a {statement.type} statement names no site")
    return statement.site


def mark_agreement_inputs(entry: NewEntry, statement: Statement, inputs: Iterable[Batch]) -> None:
    """What links an origin or transform to agreements; other types link to none."""
    if statement.type not in ("origin", "transform"):
        return
    entry.country = site_of(statement).country
    entry.minerals = tuple(sorted(statement.minerals) if statement.type == "origin" else carried(inputs))
    entry.occurred_on = statement.occurred_at.date()


LINK_ROLE_BY_TYPE = {
    "transform": LinkRole.CONSUMED,
    "transfer": LinkRole.TRANSFERRED,
    "certify": LinkRole.CERTIFIED,
    "claim": LinkRole.CLAIMED,
    "supplier_certification": LinkRole.SUPPLIER_CERTIFIED,
    "sale": LinkRole.SOLD,
}


def move_heads(receipt: Receipt, statement: Statement, batches: dict[str, Batch]) -> list[LinkRow]:
    """Link the entry to each batch it builds on, and make it their head."""
    index = _index(receipt)
    links = []
    consumed = statement.consumed
    for batch_id, prev in sorted(statement.named_batches.items()):
        batch = batches[batch_id]
        before = batch.custodian_id
        quantity = consumed.get(batch_id)
        batch.head = receipt.entry_hash
        batch.consumed = amounts.total(batch.consumed, quantity or Decimal(0))
        if statement.type == "transfer":
            batch.custodian_id = statement.to
        role = LINK_ROLE_BY_TYPE[statement.type]
        links.append(LinkRow(index, batch_id, role, prev, quantity, before, batch.custodian_id))
    return links


def creation_links(receipt: Receipt, statement: Statement, created: list[Batch]) -> list[LinkRow]:
    index = _index(receipt)
    return [LinkRow(index, batch.id, LinkRole.CREATED, "", None, None, statement.issuer) for batch in created]


def new_batches(receipt: Receipt, statement: Statement, inputs: dict[str, Batch]) -> list[Batch]:
    """The batches the entry creates (created_by is set when they are written)."""
    carried_in = carried(inputs.values())
    return [
        Batch(
            id=output.batch,
            owner_id=statement.issuer,
            material=output.material,
            unit=output.unit,
            quantity=output.quantity,
            consumed=Decimal(0),
            custodian_id=statement.issuer,
            head=receipt.entry_hash,
            site_country=site_of(statement).country,
            minerals={name: amounts.text(kg) for name, kg in output.minerals.items()},
            carries=sorted(output.minerals) if statement.type == "origin" else carried_in,
            value_added_usd=output.value_added_usd,
            component=output.component,
        )
        for output in statement.outputs
    ]


def batch_row(batch: Batch, created_by: int) -> BatchRow:
    """A created batch as it stands after the batch of appends."""
    return BatchRow(
        id=batch.id,
        owner=batch.owner_id,
        material=batch.material,
        unit=batch.unit,
        quantity=batch.quantity,
        consumed=batch.consumed,
        custodian=batch.custodian_id,
        head=batch.head,
        created_by=created_by,
        site_country=batch.site_country.code,  # a Country through the field; its code is stored
        minerals=batch.minerals,
        carries=batch.carries,
        value_added_usd=batch.value_added_usd,
        component=batch.component,
    )


def head_row(batch: Batch) -> BatchHeadRow:
    return BatchHeadRow(batch.id, batch.head, batch.consumed, batch.custodian_id)


def carried(batches: Iterable[Batch]) -> list[str]:
    return sorted({name for batch in batches for name in batch.carries})


def claim_row(receipt: Receipt, statement: Statement) -> ClaimRow:
    if statement.final_assembly is None:
        raise ValueError("a claim names its final assembly")
    return ClaimRow(
        vin=statement.vin,
        entry=_index(receipt),
        batch=statement.batch,
        manufacturer=statement.issuer,
        acquired=statement.acquired,
        placed_in_service=statement.placed_in_service,
        final_assembly_country=statement.final_assembly.country,
    )


def agreement_links(entries: list[NewEntry], ruleset: RuleSet, now: dt.datetime) -> Iterator[AgreementLinkRow]:
    """The agreements each origin and transform relies on, as the rules give them."""
    planned: dict[tuple[str, tuple[str, ...], dt.date], list[tuple[str, str]]] = {}  # few per batch
    for entry in entries:
        if entry.country is None or entry.occurred_on is None:
            continue
        key = (entry.country, entry.minerals, entry.occurred_on)
        if key not in planned:
            planned[key] = planned_agreements(
                country=entry.country, minerals=entry.minerals, on=entry.occurred_on, ruleset=ruleset
            )
        for agreement, mineral in planned[key]:
            yield AgreementLinkRow(entry.row.index, agreement, mineral, entry.country, ruleset.version, now)


def _index(receipt: Receipt) -> int:
    if receipt.index is None:
        raise ValueError("a new entry's receipt has its index")
    return receipt.index
