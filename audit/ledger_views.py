"""The tables that decide verdicts, rebuilt from the log and compared (contract §12).

Keys, organisations, the rule data and the verifications are views of the
ledger entries: `check_ledger_tables()` replays every ledger entry in log
order (`cairn_core.ledger_entries.LedgerState`) and compares the result with
the tables, column by column:

* `provenance_signingkey`: every row has its key_registered entry and
  agrees with it (organisation, public key, registered_at), and with its
  key_revoked entry (revoked_at); every logged key has its row;
* `provenance_organization`: every row is its latest `organization` entry
  (name, country, roles), and every logged organisation has its row;
* the rule data: its SHA-256 (`cairn_core.regimes.s30d.ruleset_json.digest` of the rules
  read afresh from the tables) is the latest `rules` entry's, and each other
  regime's rule document (§45X's) has the version its own latest `rules`
  entry records (`"regime": "45x"`);
* `audit_verification`: every row has its `verdict` entry and agrees with
  it (VIN, claim entry, credit, integrity, requested_by, the report's
  payload hash), the row's verdict is the signed report's payload, and
  every logged verdict has its row;
* `audit_macrverification` (§45X verdicts) likewise against the
  `macr_verdict` entries (batch, taxable year, outcome, integrity,
  requested_by, the report's payload hash, the verdict and its rules
  version against the signed report): a stored ratio changed afterwards is
  a `verification_row` problem, as a §30D credit is.

Each difference is a problem naming the table, the row and the entry that
disagrees (the entry's index; for a row no entry backs, the latest ledger
entry's). Before the first ledger entry (a ledger from before contract
v1.2 that has not run `log_present_state`) there is nothing to compare.

The entries' own integrity (hashes, the ledger's signature, the grammar)
is the range check's (audit.integrity); here only their statements are
replayed, read from the signed envelope.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from agreements.snapshot import load_ruleset
from audit.models import MacrVerification, Verification
from cairn_core import ledger_entries
from cairn_core.entries import decode_envelope
from cairn_core.ledger_entries import LedgerState
from cairn_core.problems import Code, Problem
from cairn_core.regimes.s30d import ruleset_json
from provenance.ledger_entries import REGIME_RULES
from provenance.models import Entry, EntryType, Organization, SigningKey


def replay() -> tuple[LedgerState, list[Problem], int | None]:
    """Every ledger entry replayed in log order: the state, what no honest
    ledger logs, and the latest ledger entry's index (None: none yet)."""
    state, problems, latest = LedgerState(), [], None
    rows = Entry.objects.filter(type=EntryType.LEDGER).order_by("index").values_list("index", "envelope")
    for index, envelope in rows.iterator(chunk_size=2000):
        latest = index
        try:
            document = decode_envelope(json.loads(envelope)).payload
            ledger_entries.check(document)
        except (ValueError, KeyError, TypeError):
            continue  # the range check names it
        problems += [Problem(index, Code.LEDGER_ENTRY, message) for message in state.apply(index, document)]
    return state, problems, latest


def check_ledger_tables() -> list[Problem]:
    """Every difference between the tables and the ledger entries (see the module docstring)."""
    state, problems, latest = replay()
    if latest is None:
        return []
    problems += _keys(state, latest)
    problems += _organizations(state, latest)
    problems += _rules(state, latest)
    problems += _verifications(state, latest)
    problems += _macr_verifications(state, latest)
    return problems


def _keys(state: LedgerState, latest: int) -> Iterator[Problem]:
    table = "provenance_signingkey"
    seen = set()
    for key in SigningKey.objects.order_by("keyid"):
        seen.add(key.keyid)
        record = state.keys.get(key.keyid)
        if record is None:
            yield Problem(
                latest, Code.KEY_ROW, f"{table} row {key.keyid} ({key.organization_id}) has no key_registered entry"
            )
            continue
        yield from _columns(
            Code.KEY_ROW,
            f"{table} row {key.keyid}",
            [
                ("organization", key.organization_id, record.organization, record.registered_index),
                ("public_key", bytes(key.public_key), record.public_key, record.registered_index),
                ("registered_at", key.registered_at, record.registered_at, record.registered_index),
                ("revoked_at", key.revoked_at, record.revoked_at, record.revoked_index or record.registered_index),
            ],
        )
    for keyid, record in state.keys.items():
        if keyid not in seen:
            yield Problem(
                record.registered_index,
                Code.KEY_ROW,
                f"entry #{record.registered_index} registers key {keyid}, which {table} lacks",
            )


def _organizations(state: LedgerState, latest: int) -> Iterator[Problem]:
    table = "provenance_organization"
    seen = set()
    for org in Organization.objects.order_by("slug"):
        seen.add(org.slug)
        record = state.organizations.get(org.slug)
        if record is None:
            yield Problem(latest, Code.ORGANIZATION_ROW, f"{table} row {org.slug} has no organization entry")
            continue
        yield from _columns(
            Code.ORGANIZATION_ROW,
            f"{table} row {org.slug}",
            [
                ("name", org.name, record.name, record.index),
                ("country", str(org.country), record.country, record.index),
                ("roles", sorted(org.roles), list(record.roles), record.index),
            ],
        )
    for slug, record in state.organizations.items():
        if slug not in seen:
            yield Problem(
                record.index,
                Code.ORGANIZATION_ROW,
                f"entry #{record.index} records organisation {slug}, which {table} lacks",
            )


def _columns(code: str, where: str, columns: list[tuple[str, object, object, int]]) -> Iterator[Problem]:
    """A problem for each (column, row's value, entry's value, entry index) that differs."""
    for column, have, want, index in columns:
        if have != want:
            yield Problem(index, code, f"{where}: {column} is {_shown(have)}, entry #{index} says {_shown(want)}")


def _rules(state: LedgerState, latest: int) -> Iterator[Problem]:
    if not state.rules:
        yield Problem(latest, Code.RULES_DATA, "the log holds ledger entries but no rules entry")
        return
    record = max(state.rules, key=lambda item: item.index)
    digest = ruleset_json.digest(load_ruleset())
    if digest != record.sha256:
        message = (
            f"the rule data (SHA-256 {digest[:16]}…) is not what the latest rules entry #{record.index} "
            f"records ({record.sha256[:16]}…, {record.version}): it was changed without an entry"
        )
        yield Problem(record.index, Code.RULES_DATA, message)
    for regime, read in REGIME_RULES.items():
        version = read()["version"]
        logged = state.regime_rules.get(regime)
        if not logged:
            yield Problem(latest, Code.RULES_DATA, f"the log holds no rules entry of the {regime} rule data")
        elif version != logged[-1].sha256:
            message = (
                f"the {regime} rule data (version {version[:16]}…) is not what its latest rules entry "
                f"#{logged[-1].index} records ({logged[-1].sha256[:16]}…): it was changed without an entry"
            )
            yield Problem(logged[-1].index, Code.RULES_DATA, message)


def _verifications(state: LedgerState, latest: int) -> Iterator[Problem]:
    table = "audit_verification"
    return _rows_against_entries(
        Verification.objects.order_by("id"),
        state.verdicts,
        latest,
        entry="verdict",
        where=lambda row: f"{table} row {row.pk} ({row.claim_id})",
        columns=_verification_columns,
        unstored=lambda number, record: (
            f"entry #{record.index} records verification {number} of {record.vin}, which {table} lacks"
        ),
    )


def _verification_columns(
    verification: Verification, record: ledger_entries.VerdictRecord
) -> list[tuple[str, object, object]]:
    payload, signed = _signed(verification.report)
    return [
        ("claim", verification.claim_id, record.vin),
        ("claim_index", verification.claim_index, record.claim_index),
        ("credit_usd", verification.credit_usd, record.credit_usd),
        ("integrity", verification.integrity, record.integrity),
        ("report", hashlib.sha256(payload).hexdigest(), record.report_sha256),
        ("verdict", {"id": verification.pk, **verification.verdict}, signed),
        (
            "rules_version",
            verification.rules_version,
            (signed or {}).get("applied", {}).get("rules_version", verification.rules_version),
        ),
    ]


def _macr_verifications(state: LedgerState, latest: int) -> Iterator[Problem]:
    table = "audit_macrverification"
    return _rows_against_entries(
        MacrVerification.objects.order_by("id"),
        state.macr_verdicts,
        latest,
        entry="macr_verdict",
        where=lambda row: f"{table} row {row.pk} ({row.batch_id}, {row.taxable_year})",
        columns=_macr_verification_columns,
        unstored=lambda number, record: (
            f"entry #{record.index} records §45X verification {number} of {record.batch} "
            f"for {record.taxable_year}, which {table} lacks"
        ),
    )


def _macr_verification_columns(
    verification: MacrVerification, record: ledger_entries.MacrVerdictRecord
) -> list[tuple[str, object, object]]:
    payload, signed = _signed(verification.report)
    return [
        ("batch", verification.batch_id, record.batch),
        ("taxable_year", verification.taxable_year, record.taxable_year),
        ("outcome", verification.outcome, record.outcome),
        ("integrity", verification.integrity, record.integrity),
        ("requested_by", verification.verdict.get("requested_by"), dict(record.requested_by)),
        ("report", hashlib.sha256(payload).hexdigest(), record.report_sha256),
        ("verdict", {"id": verification.pk, **verification.verdict}, signed),
        ("rules_version", verification.rules_version, (signed or {}).get("rules_version")),
    ]


def _rows_against_entries(
    rows: Iterable[Any],
    records: Mapping[int, Any],
    latest: int,
    *,
    entry: str,
    where: Callable[[Any], str],
    columns: Callable[[Any, Any], list[tuple[str, object, object]]],
    unstored: Callable[[int, Any], str],
) -> Iterator[Problem]:
    """Stored verdict rows against their ledger entries, in every regime: a row without
    its entry, a column that differs from it, and an entry without its row."""
    seen = set()
    for row in rows:
        seen.add(row.pk)
        record = records.get(row.pk)
        if record is None:
            yield Problem(latest, Code.VERIFICATION_ROW, f"{where(row)} has no {entry} entry")
            continue
        yield from _differences(where(row), record.index, columns(row, record))
    for number, record in records.items():
        if number not in seen:
            yield Problem(record.index, Code.VERIFICATION_ROW, unstored(number, record))


def _signed(report: object) -> tuple[bytes, Any]:
    """A stored report's payload bytes and their JSON (b"" and None when it has none that reads)."""
    envelope = report if isinstance(report, dict) else {}
    try:
        payload = base64.b64decode(str(envelope.get("payload", "")), validate=True)
        return payload, json.loads(payload)
    except ValueError:
        return b"", None


def _differences(where: str, index: int, columns: list[tuple[str, object, object]]) -> Iterator[Problem]:
    """A `verification_row` problem for each (column, row's value, entry's or report's value) that differs."""
    for column, have, want in columns:
        if have != want:
            message = f"{where}: {column} is {_shown(have)}, entry #{index} and the signed report say {_shown(want)}"
            yield Problem(index, Code.VERIFICATION_ROW, message)


def _shown(value: object, limit: int = 80) -> str:
    text = value.hex() if isinstance(value, bytes) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
