"""Ledger entries (contract §12): keys, organisations, rule data and verdicts in the log.

What decides a verdict besides the suppliers' statements is appended to
the same log, signed by the ledger's own key, so that a table of Cairn's
is only ever a view of the log that a check can rebuild:

    envelope = DSSE, payloadType "application/vnd.cairn.ledger+json",
               exactly one signature, by the ledger key (keyid as §1)
    payload  = {"schema": "cairn.ledger/v1", "type": <kind>, "at": <RFC 3339 UTC>,
                ["recorded_before_logging": true,] …the kind's fields}

The kinds and their fields, all required unless marked optional, no others:

    key_registered  organization (slug), keyid (hex SHA-256 of the key), public_key (base64, 32 bytes)
    key_revoked     organization, keyid
    organization    slug, name, country (ISO 3166-1 alpha-2), roles (sorted, distinct:
                    supplier, manufacturer, certifier, auditor); the whole record,
                    on creation and on every change
    rules           version, sha256 (hex; `cairn_core.regimes.s30d.ruleset_json.digest` of the whole
                    rule set after the change), changes (a list of {"table", "row",
                    "before", "after"}: before null for a new row, after null for a
                    deleted one), reason, source (both non-empty), by (who: a username,
                    or "command:<name>"); optional regime: "45x" for the §45X
                    rule data (docs/contract-45x.md), whose version and sha256 are
                    both the document's own digest; absent for §30D's
    verdict         verification (id), vin, claim_index, credit_usd ("7500", "3750"
                    or "0"), integrity ("intact" or "broken"), report_sha256 (hex
                    SHA-256 of the report envelope's payload bytes), requested_by
                    ({"organization", "user"}, as the verdict's)
    macr_verdict    a §45X verdict (docs/contract-45x.md): verification (id), batch,
                    taxable_year, outcome ("pass", "fail", "incomplete", "excepted"
                    or "not_applicable"), integrity, report_sha256, requested_by

`at` is when the ledger recorded the fact: for a key, the moment it became
valid or stopped being valid; for an organisation, a rule change or a
verdict, when it was made. Entries appended by `log_present_state` for a
ledger that existed before these entries carry
`"recorded_before_logging": true` and the original time as `at`, so they
stand after the entries they describe but say when the facts held.

Meaning (contract §12): a key is valid from its key_registered `at` until
its key_revoked `at`; an organisation's record at a time is its latest
`organization` entry at or before it; the rule data at a time is the one
whose `rules` entry is the latest at or before it, per regime
(`LedgerState.rules` holds §30D's, `regime_rules` every other regime's). `LedgerState.apply`
replays entries in log order and names what no honest ledger would log
(a key registered twice, a revocation of an unknown key, …).

No Django import: an independent verifier can use this file alone.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn_core import json_strict

LEDGER_PAYLOAD_TYPE = "application/vnd.cairn.ledger+json"
SCHEMA = "cairn.ledger/v1"
ROLES = ("supplier", "manufacturer", "certifier", "auditor")
CREDITS = ("7500", "3750", "0")
INTEGRITIES = ("intact", "broken")
COMMON = {"schema", "type", "at", "recorded_before_logging"}
FIELDS: dict[str, frozenset[str]] = {
    "key_registered": frozenset({"organization", "keyid", "public_key"}),
    "key_revoked": frozenset({"organization", "keyid"}),
    "organization": frozenset({"slug", "name", "country", "roles"}),
    "rules": frozenset({"version", "sha256", "changes", "reason", "source", "by"}),
    "verdict": frozenset(
        {"verification", "vin", "claim_index", "credit_usd", "integrity", "report_sha256", "requested_by"}
    ),
    "macr_verdict": frozenset(
        {"verification", "batch", "taxable_year", "outcome", "integrity", "report_sha256", "requested_by"}
    ),
}
# Fields a kind may carry beyond FIELDS.
OPTIONAL: dict[str, frozenset[str]] = {"rules": frozenset({"regime"})}
# The regimes whose rule data a `rules` entry may name (§30D's entries name none).
RULE_REGIMES = ("45x",)
MACR_OUTCOMES = ("pass", "fail", "incomplete", "excepted", "not_applicable")
_BATCH = re.compile(r"\A[a-z0-9][a-z0-9-]{1,62}:[A-Za-z0-9._-]{1,64}\Z")
_SLUG = re.compile(r"\A[a-z0-9][a-z0-9-]{1,62}\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_COUNTRY = re.compile(r"\A[A-Z]{2}\Z")
_TIME = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z\Z")


class LedgerEntryError(ValueError):
    """Not a ledger entry of contract §12 (an unknown kind, a missing or extra field, a bad value)."""


# --- writing -----------------------------------------------------------------------


def rfc3339(moment: dt.datetime) -> str:
    """RFC 3339 UTC, with microseconds when there are any (key validity is judged to them)."""
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def payload(kind: str, at: dt.datetime, fields: Mapping[str, Any], *, before_logging: bool = False) -> dict[str, Any]:
    """A checked payload of `kind` recorded `at`."""
    document: dict[str, Any] = {"schema": SCHEMA, "type": kind, "at": rfc3339(at), **fields}
    if before_logging:
        document["recorded_before_logging"] = True
    check(document)
    return document


def payload_bytes(document: Mapping[str, Any]) -> bytes:
    """The signed bytes: UTF-8 JSON, keys sorted, no spaces."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


# --- reading -----------------------------------------------------------------------


def parse(raw: bytes) -> dict[str, Any]:
    """A payload parsed strictly (no duplicate keys) and checked; LedgerEntryError otherwise."""
    try:
        document = json_strict.loads(raw)
    except json_strict.StrictJSONError as exc:
        raise LedgerEntryError(f"not JSON: {exc}") from exc
    check(document)
    return document  # type: ignore[no-any-return]  # checked to be an object above


def check(document: object) -> None:
    """Every rule of the module docstring; LedgerEntryError naming the first broken."""
    if not isinstance(document, dict):
        raise LedgerEntryError("a ledger entry's payload is a JSON object")
    if document.get("schema") != SCHEMA:
        raise LedgerEntryError(f'schema is not "{SCHEMA}"')
    kind = document.get("type")
    if kind not in FIELDS:
        raise LedgerEntryError(f"unknown kind {kind!r}")
    allowed = FIELDS[kind] | OPTIONAL.get(kind, frozenset())
    missing, extra = FIELDS[kind] - set(document), set(document) - allowed - COMMON
    if missing or extra:
        raise LedgerEntryError(f"{kind}: missing {sorted(missing)}, unknown {sorted(extra)}")
    _text(document, "at", _TIME)
    if document.get("recorded_before_logging", True) is not True:
        raise LedgerEntryError("recorded_before_logging is true or absent")
    CHECKS[kind](document)


def _text(document: Mapping[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.strip() or (pattern is not None and not pattern.match(value)):
        raise LedgerEntryError(f"{document.get('type')}: {name} {value!r} is not valid")
    return value


def _check_key_registered(document: Mapping[str, Any]) -> None:
    _text(document, "organization", _SLUG)
    keyid = _text(document, "keyid", _HEX64)
    try:
        public_key = base64.b64decode(_text(document, "public_key"), validate=True)
    except binascii.Error as exc:
        raise LedgerEntryError("key_registered: public_key is not base64") from exc
    if len(public_key) != 32 or hashlib.sha256(public_key).hexdigest() != keyid:
        raise LedgerEntryError("key_registered: keyid is not the SHA-256 of a 32-byte public_key")


def _check_key_revoked(document: Mapping[str, Any]) -> None:
    _text(document, "organization", _SLUG)
    _text(document, "keyid", _HEX64)


def _check_organization(document: Mapping[str, Any]) -> None:
    _text(document, "slug", _SLUG)
    _text(document, "name")
    _text(document, "country", _COUNTRY)
    roles = document["roles"]
    if not isinstance(roles, list) or roles != sorted(set(roles)) or not set(roles) <= set(ROLES):
        raise LedgerEntryError(f"organization: roles {roles!r} are not sorted, distinct roles of {ROLES}")


def _check_rules(document: Mapping[str, Any]) -> None:
    _text(document, "version")
    _text(document, "sha256", _HEX64)
    _text(document, "reason")
    _text(document, "source")
    _text(document, "by")
    changes = document["changes"]
    if not isinstance(changes, list) or not all(
        isinstance(item, dict) and set(item) == {"table", "row", "before", "after"} for item in changes
    ):
        raise LedgerEntryError("rules: changes is a list of {table, row, before, after}")
    if "regime" in document and document["regime"] not in RULE_REGIMES:
        raise LedgerEntryError(f"rules: regime {document['regime']!r} is not one of {RULE_REGIMES} (or absent)")


def _check_verdict(document: Mapping[str, Any]) -> None:
    for name in ("verification", "claim_index"):
        value = document[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise LedgerEntryError(f"verdict: {name} is a non-negative integer")
    _text(document, "vin")
    _text(document, "report_sha256", _HEX64)
    if document["credit_usd"] not in CREDITS or document["integrity"] not in INTEGRITIES:
        raise LedgerEntryError("verdict: credit_usd or integrity is not one the contract allows")
    who = document["requested_by"]
    if not isinstance(who, dict) or set(who) != {"organization", "user"}:
        raise LedgerEntryError("verdict: requested_by is {organization, user}")


def _check_macr_verdict(document: Mapping[str, Any]) -> None:
    value = document["verification"]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LedgerEntryError("macr_verdict: verification is a non-negative integer")
    year = document["taxable_year"]
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise LedgerEntryError("macr_verdict: taxable_year is a year")
    _text(document, "batch", _BATCH)
    _text(document, "report_sha256", _HEX64)
    if document["outcome"] not in MACR_OUTCOMES or document["integrity"] not in INTEGRITIES:
        raise LedgerEntryError("macr_verdict: outcome or integrity is not one the contract allows")
    who = document["requested_by"]
    if not isinstance(who, dict) or set(who) != {"organization", "user"}:
        raise LedgerEntryError("macr_verdict: requested_by is {organization, user}")


CHECKS = {
    "key_registered": _check_key_registered,
    "key_revoked": _check_key_revoked,
    "organization": _check_organization,
    "rules": _check_rules,
    "verdict": _check_verdict,
    "macr_verdict": _check_macr_verdict,
}


# --- replaying ---------------------------------------------------------------------


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.removesuffix("Z") + "+00:00")


@dataclass
class KeyRecord:
    keyid: str
    organization: str
    public_key: bytes
    registered_at: dt.datetime
    registered_index: int
    revoked_at: dt.datetime | None = None
    revoked_index: int | None = None


@dataclass(frozen=True)
class OrganizationRecord:
    slug: str
    name: str
    country: str
    roles: tuple[str, ...]
    at: dt.datetime
    index: int


@dataclass(frozen=True)
class RulesRecord:
    version: str
    sha256: str
    at: dt.datetime
    index: int
    regime: str = "30d"


@dataclass(frozen=True)
class MacrVerdictRecord:
    verification: int
    batch: str
    taxable_year: int
    outcome: str
    integrity: str
    report_sha256: str
    requested_by: Mapping[str, Any]
    at: dt.datetime
    index: int


@dataclass(frozen=True)
class VerdictRecord:
    verification: int
    vin: str
    claim_index: int
    credit_usd: str
    integrity: str
    report_sha256: str
    requested_by: Mapping[str, Any]
    at: dt.datetime
    index: int


@dataclass
class LedgerState:
    """Keys, organisations, rule versions and verdicts, as the ledger entries say."""

    keys: dict[str, KeyRecord] = field(default_factory=dict)
    organizations: dict[str, OrganizationRecord] = field(default_factory=dict)
    organization_history: dict[str, list[OrganizationRecord]] = field(default_factory=dict)
    rules: list[RulesRecord] = field(default_factory=list)  # §30D's rule data
    verdicts: dict[int, VerdictRecord] = field(default_factory=dict)
    regime_rules: dict[str, list[RulesRecord]] = field(default_factory=dict)  # other regimes' rule data
    macr_verdicts: dict[int, MacrVerdictRecord] = field(default_factory=dict)

    def apply(self, index: int, document: Mapping[str, Any]) -> list[str]:
        """Replay one checked entry; what an honest ledger would not have logged, named."""
        kind, at = document["type"], moment(document["at"])
        return APPLY[kind](self, index, at, document)

    def organization_at(self, slug: str, when: dt.datetime) -> OrganizationRecord | None:
        history = [record for record in self.organization_history.get(slug, []) if record.at <= when]
        return history[-1] if history else None

    def rules_at(self, when: dt.datetime) -> RulesRecord | None:
        found = [record for record in self.rules if record.at <= when]
        return max(found, key=lambda record: (record.at, record.index)) if found else None


def _key_registered(state: LedgerState, index: int, at: dt.datetime, document: Mapping[str, Any]) -> list[str]:
    keyid = document["keyid"]
    if keyid in state.keys:
        return [f"key {keyid} is registered again (first at entry {state.keys[keyid].registered_index})"]
    public_key = base64.b64decode(document["public_key"])
    state.keys[keyid] = KeyRecord(keyid, document["organization"], public_key, at, index)
    return []


def _key_revoked(state: LedgerState, index: int, at: dt.datetime, document: Mapping[str, Any]) -> list[str]:
    record = state.keys.get(document["keyid"])
    if record is None or record.organization != document["organization"]:
        return [f"key {document['keyid']} of {document['organization']} is revoked but was never registered"]
    if record.revoked_index is not None:
        return [f"key {record.keyid} is revoked again (first at entry {record.revoked_index})"]
    record.revoked_at, record.revoked_index = at, index
    return []


def _organization(state: LedgerState, index: int, at: dt.datetime, document: Mapping[str, Any]) -> list[str]:
    record = OrganizationRecord(
        document["slug"], document["name"], document["country"], tuple(document["roles"]), at, index
    )
    state.organizations[record.slug] = record
    state.organization_history.setdefault(record.slug, []).append(record)
    return []


def _rules(state: LedgerState, index: int, at: dt.datetime, document: Mapping[str, Any]) -> list[str]:
    regime = document.get("regime")
    if regime is None:
        state.rules.append(RulesRecord(document["version"], document["sha256"], at, index))
    else:
        state.regime_rules.setdefault(regime, []).append(
            RulesRecord(document["version"], document["sha256"], at, index, regime)
        )
    return []


def _macr_verdict(state: LedgerState, index: int, at: dt.datetime, document: Mapping[str, Any]) -> list[str]:
    verification = document["verification"]
    if verification in state.macr_verdicts:
        first = state.macr_verdicts[verification].index
        return [f"§45X verification {verification} is logged again (first at entry {first})"]
    state.macr_verdicts[verification] = MacrVerdictRecord(
        verification,
        document["batch"],
        document["taxable_year"],
        document["outcome"],
        document["integrity"],
        document["report_sha256"],
        document["requested_by"],
        at,
        index,
    )
    return []


def _verdict(state: LedgerState, index: int, at: dt.datetime, document: Mapping[str, Any]) -> list[str]:
    verification = document["verification"]
    if verification in state.verdicts:
        return [f"verification {verification} is logged again (first at entry {state.verdicts[verification].index})"]
    state.verdicts[verification] = VerdictRecord(
        verification,
        document["vin"],
        document["claim_index"],
        document["credit_usd"],
        document["integrity"],
        document["report_sha256"],
        document["requested_by"],
        at,
        index,
    )
    return []


APPLY = {
    "key_registered": _key_registered,
    "key_revoked": _key_revoked,
    "organization": _organization,
    "rules": _rules,
    "verdict": _verdict,
    "macr_verdict": _macr_verdict,
}
