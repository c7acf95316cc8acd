"""The proof bundle of a verification (contract §8), and its offline verifier.

A bundle is one JSON document that lets anyone check a verdict with no
server and no network: the signed verdict, the log's key, the checkpoint
the verdict was computed against with its witnesses' cosignatures, every
entry of the claim's upstream DAG with a C2SP tlog-proof@v1 inclusion
proof, the keys and organisations the entries name, and the rule data the
verdict applied.

A regime's verifier (§30D: `cairn_core.regimes.s30d.bundle.verify`; §45X:
`cairn_core.regimes.s45x.bundle.verify`) checks, in this order, and names
every failure; 1 to 6 are every regime's (`check_log` and its neighbours
here), 7 and 8 are said here as §30D's, each regime having its own:

1. **log**: the verifier string names the log's origin and public key, and
   they are the pinned log key's (contract §8, "Trust"); every later check
   uses the pinned key, or the bundle's own when none is pinned;
2. **checkpoint**: signed by the log key under its origin; **witnesses**:
   which pinned witnesses' C2SP tlog-cosignature lines verify over its body;
3. **entries**: sorted by index, each once; each proof is for its index,
   carries the bundle's checkpoint verbatim, and its path leads from
   SHA-256(0x00 ‖ leaf_input) to the checkpoint's root;
4. **signatures**: every envelope's signatures verify under keys of the
   bundle valid at the entry's integrated_time, one of them the issuer's;
5. **chain**: every `prev` names an entry of the bundle and is that batch's
   head in the bundle's order (batches created once, by their first entry);
6. **report**: the verdict's DSSE report verifies under the log key and
   its payload is the verdict without `report`;
7. **rules**: the rules section reads as a RuleSet whose version and
   SHA-256 are the verdict's;
8. **verdict**: recomputed from the bundle's payloads, organisations and
   rules alone (`cairn_core.regimes.s30d.verdict`, the server's own code), it is the
   signed verdict, field by field; `verified_at` and `requested_by` cannot
   be recomputed and are checked for shape only.

Ledger entries (contract §12, v1.2). `entries` may also hold ledger entries
(payload type `application/vnd.cairn.ledger+json`): the key_registered and
key_revoked entries of the keys that signed, the organization entries of
the organisations named, and the rules entry of the rule data applied, each
with its inclusion proof against the bundle's checkpoint. They are never
attestations: the chains, the claim and the verdict's recomputation see
only the attestations. When the bundle carries any:

* **ledger**: each is signed by the (pinned) log key alone and reads as a
  ledger entry (`cairn_core.ledger_entries.check`); replayed in index order
  (`LedgerState.apply`), what no honest ledger logs is named too;
* **keys**: the signatures are checked under the keys *as the entries say*
  (public key, organisation, registered and revoked times); a `keys` row
  that disagrees with its entries, or has no key_registered entry in the
  bundle, fails, and a signing key with no entry is an unknown key;
* **organizations**: each row must be its organisation's latest
  `organization` entry in the bundle (name, country, roles), and the
  countries the verdict is recomputed with are the entries';
* **rules**: the rule data's digest (the verdict's `applied.rules_sha256`)
  must be a logged `rules` entry's, of the same version;
* **verdict_entry**: the verdict's own `verdict` entry, logged after the
  verdict was computed and so beyond its checkpoint, is in the bundle's
  `verdict_entry` section `{"index", "leaf_input", "checkpoint",
  "cosignatures", "proof", "consistency"}`: signed by the log key alone,
  its proof leads to the root of a later checkpoint signed by the log key,
  `consistency` (RFC 9162, base64 hashes) proves that checkpoint extends
  the verdict's, and its fields are the verdict's (verification id, VIN,
  claim entry, credit, integrity, requested_by, `at` = verified_at, and
  report_sha256 = SHA-256 of the report's payload bytes). The witness
  quorum is required of the verdict's checkpoint; the later checkpoint's
  cosigners are reported. A bundle with ledger entries but no
  `verdict_entry` fails.

A bundle with no ledger entries (made before v1.2) is checked as before,
with its own `keys`, `organizations` and `rules`, and `Result.notes` says
so ("keys, organisations and rules are the bundle's own lists: not in the
log"); without a `verdict_entry` too, it says "the verdict is not in the
log". Neither note fails it.

A verdict's integrity problems (codes of `cairn_core.problems.Code`) are
matched by (index, code): those the bundle also shows are *recomputed*;
those of a code in `NOT_CHECKABLE_OFFLINE` (stored rows and derived tables
only the server holds) are *not checkable offline*; any other listed
problem the bundle does not show, and any the bundle shows that the verdict
does not list, is a failure. So a broken verdict verifies when what can be
recomputed is. Its other problems (unmet requirements, doubtful facts) are
recomputed exactly.

`Result.status` is 0 when every check passed against a pinned log key and
at least the required number of pinned witnesses cosigned, 1 when a check
failed, and 3 when every check passed but nothing anchors the bundle: no
log key was pinned, or too few pinned witnesses cosigned. A bundle carries
its own keys, so anyone can make one that passes every check under them.
`verify_report` checks a verdict's signed report alone.

Regimes (cairn_core.regimes). `verify` is §30D's. Steps 1 to 6, the ledger
entries, the organisations and the verdict entry are every regime's:
`check_log`, `check_organizations`, `check_logged_rules` and
`check_verdict_entry` run them for another regime's verifier
(`cairn_core.regimes.s45x.bundle`), with its report's payload type and its
verdict entry's kind and fields, so that every regime's bundle gets the
same checks, trust rules and exit statuses. `read` and `regime_of` tell a
bundle's regime before its shape is checked (no `regime`: §30D).

Nothing here imports Django; the standard library, `cryptography`'s
companion PyNaCl and the core modules are all it needs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, NotRequired, TypedDict, cast

import nacl.signing

from cairn_core import cosignature, dsse, ledger_entries, merkle, signed_note, tlog_proof, untrusted
from cairn_core.entries import (
    Decoded,
    Key,
    check_ledger_signature,
    check_prev,
    check_signatures,
    created_again,
    created_batches,
    decode_envelope,
    named_batches,
)
from cairn_core.ledger_entries import LEDGER_PAYLOAD_TYPE, LedgerState
from cairn_core.merkle import leaf_hash
from cairn_core.payload import JSON, PAYLOAD_TYPE, JSONObject
from cairn_core.problems import Code, Problem

BUNDLE = "cairn.bundle/v1"
MEDIA_TYPE = "application/vnd.cairn.bundle+json"
SECTIONS = {
    "bundle": str,
    "vin": str,
    "verdict": dict,
    "log": dict,
    "checkpoint": str,
    "entries": list,
    "keys": list,
    "organizations": list,
    "rules": dict,
}
# v1.2: witness cosignature lines over the checkpoint, and the verdict's own
# ledger entry (contract §12); older bundles have neither.
OPTIONAL_SECTIONS = {"cosignatures": list, "verdict_entry": dict}
# The failures of the ledger entries (contract §12) the bundle carries.
LEDGER, VERDICT_ENTRY = "ledger", "verdict_entry"
NOTE_OWN_LISTS = (
    "keys, organisations and rules are the bundle's own lists: not in the log (a bundle from before contract v1.2)"
)
NOTE_NO_VERDICT_ENTRY = "the verdict is not in the log (a verdict from before contract v1.2)"
PASSED, FAILED, UNANCHORED = 0, 1, 3  # Result.status, and cairn-verify's exit status
REGIME_30D = "30d"  # a bundle with no `regime` section


class BundleDocument(TypedDict):
    """A bundle's sections (`SECTIONS`), as `check_shape` found them.

    The verdict, the log and the key and organisation rows are read by
    trying: a malformed one raises KeyError or TypeError, named as a failure.
    """

    bundle: str
    vin: str
    verdict: JSONObject
    log: JSONObject
    checkpoint: str
    entries: list[JSON]
    keys: list[Any]
    organizations: list[Any]
    rules: dict[str, JSON]
    cosignatures: NotRequired[list[str]]
    verdict_entry: NotRequired[JSONObject]


class FailureDict(TypedDict):
    check: str
    index: int | None
    message: str
    field: NotRequired[str]
    signed: NotRequired[object]
    recomputed: NotRequired[object]


class NotABundle(ValueError):
    """The document is not a Cairn proof bundle at all (as opposed to one that fails)."""


# --- the result -------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One failed check: which, of which entry (None for the bundle as a whole), why.

    A verdict field that differs carries `detail`: (field, signed, recomputed),
    in full; `brief` shortens long values for a person to read.
    """

    check: str
    message: str
    index: int | None = None
    detail: tuple[str, object, object] | None = None

    @property
    def line(self) -> str:
        where = f"entry {self.index}: " if self.index is not None else ""
        return f"{where}{self.check}: {self.message}"

    @property
    def brief(self) -> str:
        if self.detail is None:
            return self.line
        path, signed, recomputed = self.detail
        return f"{self.check}: {path}: signed {_short(signed)}, recomputed {_short(recomputed)}"

    def as_dict(self) -> FailureDict:
        found: FailureDict = {"check": self.check, "index": self.index, "message": self.message}
        if self.detail is not None:
            found["field"], found["signed"], found["recomputed"] = self.detail
        return found


@dataclass(frozen=True)
class WitnessCheck:
    """A pinned witness, and its cosignature over the bundle's checkpoint when one verified."""

    witness: cosignature.WitnessKey
    cosigned: cosignature.Cosignature | None
    reason: str  # why it did not count, when it did not

    def as_dict(self) -> dict[str, object]:
        return {
            "vkey": str(self.witness),
            "name": self.witness.name,
            "key_id": self.witness.key_id.hex(),
            "cosigned": self.cosigned is not None,
            "timestamp": rfc3339(self.cosigned.timestamp) if self.cosigned else None,
            "reason": self.reason,
        }


@dataclass
class VerdictEntryCheck:
    """The verdict's own ledger entry: where it is, the later checkpoint proving it, who cosigned that."""

    index: int
    tree_size: int | None = None  # the later checkpoint's, when it reads
    cosigners: list[dict[str, str | None]] = field(default_factory=list)  # its lines: name, key ID
    witnesses: list[str] = field(default_factory=list)  # the pinned witnesses whose lines verify over it

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "tree_size": self.tree_size,
            "cosignatures": self.cosigners,
            "witnesses": self.witnesses,
        }


@dataclass
class Result:
    vin: str
    verdict: JSONObject  # the signed verdict, as the bundle carries it
    recomputed: Mapping[str, object] | None = None
    entries: int = 0
    tree_size: int | None = None
    failures: list[Failure] = field(default_factory=list)
    log_key: str | None = None  # the verifier string every check used
    log_key_pinned: bool = False  # given by the examiner, not read from the bundle
    bundle_log_key: str | None = None  # the bundle's own `log.verifier`, when it reads
    witnesses: list[WitnessCheck] = field(default_factory=list)  # one per pinned witness
    witnesses_required: int = 0
    cosigners: list[dict[str, str | None]] = field(default_factory=list)  # the bundle's lines: name, key ID
    problems_recomputed: list[Problem] = field(default_factory=list)
    problems_not_checkable: list[Problem] = field(default_factory=list)
    ledger_entries: int = 0  # of `entries`, those that are ledger entries (contract §12)
    verdict_entry: VerdictEntryCheck | None = None  # the verdict's own entry, when the bundle has one
    notes: list[str] = field(default_factory=list)  # what was not checked, and why (no failure)

    @property
    def passed(self) -> bool:
        """Every check passed, under whatever key was used: not, by itself, trust (see `status`)."""
        return not self.failures

    @property
    def verified(self) -> bool:
        """The pre-v1.2 name of `passed`."""
        return self.passed

    @property
    def cosigned(self) -> int:
        return sum(1 for check in self.witnesses if check.cosigned is not None)

    @property
    def status(self) -> int:
        """0 verified against pinned keys, 1 a check failed, 3 passed but not anchored."""
        if self.failures:
            return FAILED
        anchored = self.log_key_pinned and self.cosigned >= self.witnesses_required
        return PASSED if anchored else UNANCHORED

    @property
    def trusted(self) -> bool:
        return self.status == PASSED

    def fail(
        self, check: str, message: str, index: int | None = None, detail: tuple[str, object, object] | None = None
    ) -> None:
        self.failures.append(Failure(str(check), message, index, detail))

    def add_problems(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.fail(problem.code, problem.message, problem.index)

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "trusted": self.trusted,
            "passed": self.passed,
            "vin": self.vin,
            "claim_index": self.verdict.get("claim_index"),
            "credit_usd": self.verdict.get("credit_usd"),
            "entries": self.entries,
            "ledger_entries": self.ledger_entries,
            "tree_size": self.tree_size,
            "log_key": {"checked": self.log_key, "pinned": self.log_key_pinned, "bundle": self.bundle_log_key},
            "witnesses": [check.as_dict() for check in self.witnesses],
            "witnesses_required": self.witnesses_required,
            "cosignatures": self.cosigners,
            "problems": {
                "recomputed": [problem.as_dict() for problem in self.problems_recomputed],
                "not_checkable_offline": [_unchecked(problem) for problem in self.problems_not_checkable],
            },
            "failures": [failure.as_dict() for failure in self.failures],
            "verdict_entry": self.verdict_entry.as_dict() if self.verdict_entry else None,
            "notes": self.notes,
            "verdict": {key: value for key, value in self.verdict.items() if key != "report"},
            "recomputed": self.recomputed,
        }


def _unchecked(problem: Problem) -> dict[str, object]:
    return {**problem.as_dict(), "why": NOT_CHECKABLE_OFFLINE.get(problem.code, "")}


def rfc3339(timestamp: int) -> str:
    """A Unix time as RFC 3339 UTC, or a plain `@<seconds>` beyond the calendar."""
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"@{timestamp}"


# --- reading ----------------------------------------------------------------------


def load(raw: bytes | str) -> BundleDocument:
    """Parse a bundle file strictly (gzip-compressed or not), within the limits
    of cairn_core.untrusted (size decompressed, depth, numbers); NotABundle
    when it is not one."""
    return check_shape(read(raw))


def check_shape(document: object) -> BundleDocument:
    """A §30D bundle's sections, each of its JSON type; NotABundle otherwise."""
    return cast(BundleDocument, check_sections(document, SECTIONS))  # each section's JSON type checked


def check_sections(document: object, sections: Mapping[str, type]) -> dict[str, Any]:
    """A bundle of any regime: `bundle` is BUNDLE, each of `sections` (the regime's) and of
    OPTIONAL_SECTIONS (every regime's) of its JSON type, and no other; NotABundle otherwise."""
    if not isinstance(document, dict):
        raise NotABundle("a bundle is a JSON object")
    if document.get("bundle") != BUNDLE:
        raise NotABundle(f'"bundle" is not "{BUNDLE}"')
    for name, kind in sections.items():
        if not isinstance(document.get(name), kind) or (kind is int and isinstance(document.get(name), bool)):
            raise NotABundle(f'"{name}" is missing or not a JSON {kind.__name__}')
    lines = document.get("cosignatures", [])
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise NotABundle('"cosignatures" is not a JSON list of strings')
    if not isinstance(document.get("verdict_entry", {}), dict):
        raise NotABundle('"verdict_entry" is not a JSON object')
    unknown = set(document) - set(sections) - set(OPTIONAL_SECTIONS)
    if unknown:
        raise NotABundle(f"unknown sections {sorted(unknown)}")
    return document


def read(raw: bytes | str) -> object:
    """A bundle file's JSON (gzip-compressed or not), strictly and within cairn_core.untrusted's
    limits, before any regime's shape is checked; NotABundle when it is not JSON."""
    try:
        return untrusted.loads(untrusted.decompressed(raw) if isinstance(raw, bytes) else raw)
    except untrusted.Unreadable as exc:
        raise NotABundle(str(exc)) from exc


def regime_of(document: object) -> str:
    """The regime a bundle is for: its `regime` section, or "30d" for a bundle without one (§30D's)."""
    regime = document.get("regime", REGIME_30D) if isinstance(document, dict) else REGIME_30D
    if not isinstance(regime, str):
        raise NotABundle('"regime" is not a JSON string')
    return regime


# --- verifying ---------------------------------------------------------------------


@dataclass
class Entry:
    """One bundle entry, decoded."""

    index: int
    integrated_time: int
    decoded: Decoded


def sort_failures(result: Result) -> None:
    """The bundle's own failures first, then each entry's by index (stable: in the order found)."""
    result.failures.sort(key=lambda failure: (failure.index is not None, failure.index or 0))


@dataclass
class Log:
    """What the checks every regime shares leave for the regime's own (`check_log`)."""

    key: signed_note.Verifier | None  # the key every check used: the pinned one, or the bundle's
    checkpoint: signed_note.Checkpoint | None  # the verdict's checkpoint, when it is signed by that key
    keys: dict[str, Key]  # the signing keys: as the ledger entries say, or the bundle's own rows
    ledger: LedgerState | None  # the bundle's ledger entries replayed (None: a bundle from before v1.2)
    entries: list[Entry]  # the attestations, decoded, in index order
    signatures: Callable[[list[Entry]], list[Problem]]  # their signature problems, when asked


def check_log(
    document: Mapping[str, Any],
    result: Result,
    *,
    processes: int,
    log_key: signed_note.Verifier | None,
    pinned: list[cosignature.WitnessKey],
    report_type: str,
) -> Log:
    """The checks of every regime's bundle, in this order: the log key against the pinned one,
    the checkpoint's signature, the witnesses, the keys and ledger entries, each entry's proof,
    the chains, and the verdict's signed report (of `report_type`). Signatures are checked when
    the regime asks `Log.signatures` (in a child process meanwhile, with `processes=2`)."""
    verdict = document["verdict"]
    key = _anchor(document["log"], log_key, result)
    checkpoint = _checkpoint(document["checkpoint"], key, result)
    _check_witnesses(document["checkpoint"], document.get("cosignatures", []), pinned, result)
    result.tree_size = checkpoint.tree_size if checkpoint else None
    keys = _keys(document["keys"], result)
    ledger, replayed = _ledger(document["entries"], key, result)
    if ledger is not None:
        keys = _logged_keys(document["keys"], ledger, result)
    signatures = _signatures(document["entries"], keys, in_child=processes > 1)
    decoded = _entries(document["entries"], document["checkpoint"], checkpoint, result)
    entries = _attestations(decoded, replayed, result)
    _check_chains(entries, result)
    _check_report(verdict, key, result, report_type)
    return Log(key, checkpoint, keys, ledger, entries, signatures)


def check_organizations(rows: list[Any], ledger: LedgerState | None, result: Result) -> dict[str, str]:
    """Each organisation's country: as its latest ledger entry says (every row compared with it),
    or the bundle's own rows, noted, for a bundle from before v1.2."""
    countries = _organizations(rows, result)
    if ledger is None:
        result.notes.append(NOTE_OWN_LISTS)
        return countries
    return _logged_organizations(rows, ledger, result)


def required_witnesses(witnesses: list[cosignature.WitnessKey], required: int | None) -> int:
    """How many of the pinned witnesses must cosign (default: all); ValueError when impossible."""
    if len({str(witness) for witness in witnesses}) != len(witnesses):
        raise ValueError("a witness is pinned twice")
    if required is None:
        return len(witnesses)
    if not 0 <= required <= len(witnesses):
        raise ValueError(f"{required} witnesses required, but {len(witnesses)} pinned")
    return required


def _signatures(rows: list[JSON], keys: Mapping[str, Key], *, in_child: bool) -> Callable[[list[Entry]], list[Problem]]:
    """The signature problems of the decoded entries: checked when asked, or
    by a child forked now, which decodes the entries itself meanwhile."""
    if not in_child or "fork" not in multiprocessing.get_all_start_methods():
        return lambda entries: _signature_problems(entries, keys)
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=_check_in_child, args=(writer, rows, keys), daemon=True)
    child.start()
    writer.close()

    def answer(entries: list[Entry]) -> list[Problem]:
        try:
            problems: list[Problem] = reader.recv()
        except EOFError:  # the child died without answering: check here
            problems = _signature_problems(entries, keys)
        finally:
            reader.close()
            child.join()
        return problems

    return answer


def _check_in_child(writer: Connection, rows: list[JSON], keys: Mapping[str, Key]) -> None:
    """Decode the entries and check their signatures; the parent names what does not decode."""
    entries = []
    for row in rows:
        index = row.get("index") if isinstance(row, dict) else None
        leaf_input = row.get("leaf_input") if isinstance(row, dict) else None
        if not isinstance(index, int) or not isinstance(leaf_input, str):
            continue
        try:
            entries.append(decode_leaf(index, leaf_input))
        except (ValueError, KeyError, TypeError):
            continue
    writer.send(_signature_problems(entries, keys))
    writer.close()


def _log_key(log: JSONObject, result: Result) -> signed_note.Verifier | None:
    try:
        origin, public_key = log["origin"], base64.b64decode(log["public_key"], validate=True)
        verifier = signed_note.parse_verifier(log["verifier"])
    except (KeyError, TypeError, AttributeError, binascii.Error, signed_note.NoteError) as exc:  # not strings
        result.fail(Code.LOG, f"the log's origin, public key and verifier cannot be read: {exc}")
        return None
    if (verifier.name, verifier.public_key) != (origin, public_key):
        result.fail(Code.LOG, "the verifier string names another origin or key than the log's")
        return None
    return verifier


def _anchor(log: JSONObject, pinned: signed_note.Verifier | None, result: Result) -> signed_note.Verifier | None:
    """The key every later check uses: the pinned one when given, and the bundle's must be it."""
    own = _log_key(log, result)
    result.bundle_log_key = str(own) if own is not None else None
    if pinned is None:
        result.log_key = result.bundle_log_key
        return own
    result.log_key, result.log_key_pinned = str(pinned), True
    if own is not None and (own.name, own.public_key) != (pinned.name, pinned.public_key):
        result.fail(Code.LOG, f"log key: the bundle's log key {own} is not the pinned log key {pinned}")
    return pinned


def _check_witnesses(
    checkpoint_text: str, lines: list[str], pinned: list[cosignature.WitnessKey], result: Result
) -> None:
    """Which pinned witnesses cosigned the checkpoint's body; every line named by signer."""
    result.cosigners = [_signer(line) for line in lines]
    try:
        body, _signatures = signed_note.split_note(checkpoint_text)
    except signed_note.NoteError:
        body = None  # named as the checkpoint's failure; nothing can be cosigned
    found = cosignature.verified(body, lines, pinned) if body is not None else {}
    for witness in pinned:
        cosigned = found.get(str(witness))
        named = any(_signer(line) == {"name": witness.name, "key_id": witness.key_id.hex()} for line in lines)
        reason = "" if cosigned else "its cosignature does not verify" if named else "no cosignature by it"
        result.witnesses.append(WitnessCheck(witness, cosigned, reason))


def _signer(line: str) -> dict[str, str | None]:
    """A cosignature line's witness name and key ID (None when the line does not read)."""
    name, _, encoded = line.removeprefix(signed_note.SIGNATURE_PREFIX).rpartition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raw = b""
    readable = line.startswith(signed_note.SIGNATURE_PREFIX) and len(raw) >= 4
    return {"name": name or None, "key_id": raw[:4].hex() if readable else None}


def _checkpoint(text: str, log_key: signed_note.Verifier | None, result: Result) -> signed_note.Checkpoint | None:
    if log_key is None:
        result.fail(Code.CHECKPOINT_SIGNATURE, "no log key to check the checkpoint against")
        return None
    try:
        return signed_note.open_checkpoint(text, log_key)
    except signed_note.NoteError as exc:
        result.fail(Code.CHECKPOINT_SIGNATURE, f"not signed by the log key: {exc}")
        return None


def _keys(rows: list[Any], result: Result) -> dict[str, Key]:
    keys = {}
    for number, row in enumerate(rows):
        try:
            public_key = base64.b64decode(row["public_key"], validate=True)
            registered = _moment(row["registered_at"])
            revoked = _moment(row["revoked_at"]) if row["revoked_at"] is not None else None
            if dsse.keyid_for(public_key) != row["keyid"]:
                raise ValueError("keyid is not the SHA-256 of the public key")
            keys[row["keyid"]] = Key.of(public_key, row["organization"], registered, revoked)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            result.fail(Code.KEYS, f"key {number} cannot be read: {exc}")
    return keys


def _moment(text: object) -> dt.datetime:
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"{text!r} is not an RFC 3339 UTC time")
    return dt.datetime.fromisoformat(text[:-1] + "+00:00")


def _entries(
    rows: list[JSON], checkpoint_text: str, checkpoint: signed_note.Checkpoint | None, result: Result
) -> list[Entry]:
    """Each entry decoded and its proof checked; out-of-order or repeated indexes named."""
    entries: list[Entry] = []
    last = -1
    for number, row in enumerate(rows):
        index = row.get("index") if isinstance(row, dict) else None
        if not isinstance(row, dict) or not isinstance(index, int) or isinstance(index, bool) or index < 0:
            result.fail(Code.ENTRIES, f"entry {number} has no index")
            continue
        if index <= last:
            result.fail(Code.ENTRIES, "entries are not sorted by index, each index once", index)
        last = max(last, index)
        entry = _entry(row, index, checkpoint_text, checkpoint, result)
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(
    row: Mapping[str, JSON], index: int, checkpoint_text: str, checkpoint: signed_note.Checkpoint | None, result: Result
) -> Entry | None:
    leaf_input = row.get("leaf_input")
    if not isinstance(leaf_input, str):
        result.fail(Code.MALFORMED_ENVELOPE, "no leaf_input", index)
        return None
    _check_proof(row.get("proof"), index, leaf_hash(leaf_input.encode("utf-8")), checkpoint_text, checkpoint, result)
    try:
        return decode_leaf(index, leaf_input)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # its payload nested too deep
        result.fail(Code.MALFORMED_ENVELOPE, f"the leaf input is not a Cairn entry: {exc}", index)
        return None


def decode_leaf(index: int, leaf_input: str) -> Entry:
    """A leaf input (contract §4) as an entry, an attestation or a ledger entry (contract §12);
    ValueError, KeyError or TypeError when it is neither."""
    leaf = untrusted.loads(leaf_input)
    if not isinstance(leaf, dict):
        raise TypeError("the leaf input is not a JSON object")
    envelope, integrated_time = leaf["envelope"], leaf["integrated_time"]
    if envelope["payloadType"] not in (PAYLOAD_TYPE, LEDGER_PAYLOAD_TYPE):
        raise ValueError(f"payload type {envelope['payloadType']!r}")
    if not isinstance(integrated_time, int):
        raise TypeError("integrated_time is not an integer")
    return Entry(index, integrated_time, decode_envelope(envelope))


def _check_proof(
    text: object,
    index: int,
    leaf: bytes,
    checkpoint_text: str,
    checkpoint: signed_note.Checkpoint | None,
    result: Result,
) -> None:
    try:
        proof = tlog_proof.parse_proof(text)
    except tlog_proof.ProofError as exc:
        result.fail(Code.INCLUSION, f"the proof is not tlog-proof@v1: {exc}", index)
        return
    if proof.index != index:
        result.fail(Code.INCLUSION, f"the proof is for index {proof.index}", index)
    elif proof.checkpoint != checkpoint_text:
        result.fail(Code.INCLUSION, "the proof's checkpoint is not the bundle's", index)
    elif checkpoint is not None:
        try:
            tlog_proof.check_inclusion(proof, leaf, checkpoint)
        except tlog_proof.ProofError as exc:
            result.fail(Code.INCLUSION, str(exc), index)


def _signature_problems(entries: list[Entry], keys: Mapping[str, Key]) -> list[Problem]:
    problems = []
    for entry in entries:
        if not entry.decoded.is_ledger_entry:  # the ledger's own signature is `_ledger`'s
            problems += check_signatures(entry.index, entry.integrated_time, entry.decoded, keys.get)
    return problems


def _check_chains(entries: list[Entry], result: Result) -> None:
    """Replayed in index order: each prev is its batch's head; each batch is created once."""
    logged = {entry.decoded.entry_hash for entry in entries}
    heads: dict[str, str] = {}
    for entry in entries:
        payload = entry.decoded.payload
        for batch, prev in named_batches(payload).items():
            if prev not in logged:
                result.fail(Code.CHAIN, f"batch {batch}: prev {prev} names no entry of the bundle", entry.index)
            else:
                result.add_problems(check_prev(entry.index, batch, prev, heads.get(batch)))
            heads[batch] = entry.decoded.entry_hash
        for batch in created_batches(payload):
            if batch in heads:
                result.add_problems([created_again(entry.index, batch)])
            heads[batch] = entry.decoded.entry_hash


def _check_report(
    verdict: Mapping[str, object], log_key: signed_note.Verifier | None, result: Result, report_type: str
) -> None:
    report = verdict.get("report")
    try:
        envelope = dsse.envelope_from_dict(report)
    except dsse.EnvelopeError as exc:
        result.fail(Code.REPORT, f"the verdict's report is not a DSSE envelope: {exc}")
        return
    if envelope.payload_type != report_type:
        result.fail(Code.REPORT, f"the report's payload type is {envelope.payload_type!r}")
    body = {key: value for key, value in verdict.items() if key != "report"}
    if envelope.payload != report_payload(body):
        result.fail(Code.REPORT, "the report's payload is not the verdict without its report")
    if log_key is None:
        return
    keyid = dsse.keyid_for(log_key.public_key)
    signed = [item for item in envelope.signatures if item.keyid == keyid]
    if not signed or not dsse.verify_signature(log_key.public_key, envelope.pae, signed[0].sig):
        result.fail(Code.REPORT, "the report is not signed by the log key")


def _organizations(rows: list[Any], result: Result) -> dict[str, str]:
    countries = {}
    for number, row in enumerate(rows):
        slug, country = (row.get("slug"), row.get("country")) if isinstance(row, dict) else (None, None)
        if not isinstance(slug, str) or not isinstance(country, str):
            result.fail(Code.ORGANIZATIONS, f"organisation {number} has no slug and country")
            continue
        countries[slug] = country
    return countries


# --- the ledger entries (contract §12) ------------------------------------------------


def _ledger(
    rows: list[JSON], log_key: signed_note.Verifier | None, result: Result
) -> tuple[LedgerState | None, set[int]]:
    """The bundle's ledger entries checked and replayed in index order (None when it has none),
    and the indexes of those it found.

    Only the rows that name the ledger's payload type are decoded here (the
    type is the one place that text can appear in a leaf input: the payload
    is base64); `_entries` names every row that does not decode, and
    `_attestations` any ledger entry found there but not here.
    """
    found = []
    for row in rows:
        index = row.get("index") if isinstance(row, dict) else None
        leaf_input = row.get("leaf_input") if isinstance(row, dict) else None
        if not isinstance(index, int) or not isinstance(leaf_input, str) or LEDGER_PAYLOAD_TYPE not in leaf_input:
            continue
        try:
            entry = decode_leaf(index, leaf_input)
        except (ValueError, KeyError, TypeError):
            continue
        if entry.decoded.is_ledger_entry:
            found.append(entry)
    if not found:
        return None, set()
    state = LedgerState()
    for entry in sorted(found, key=lambda item: item.index):
        if _ledger_entry_checks(entry, log_key, result):
            for message in state.apply(entry.index, entry.decoded.payload):
                result.fail(LEDGER, message, entry.index)
    return state, {entry.index for entry in found}


def _attestations(decoded: list[Entry], replayed: set[int], result: Result) -> list[Entry]:
    """The attestations among the decoded entries; the entries counted, and any ledger entry
    `_ledger` did not see (its payload type written with escapes) named."""
    entries = [entry for entry in decoded if not entry.decoded.is_ledger_entry]
    result.entries, result.ledger_entries = len(decoded), len(decoded) - len(entries)
    for entry in decoded:
        if entry.decoded.is_ledger_entry and entry.index not in replayed:
            result.fail(LEDGER, "a ledger entry whose payload type is not written plainly is not checked", entry.index)
    return entries


def _ledger_entry_checks(
    entry: Entry, log_key: signed_note.Verifier | None, result: Result, check: str = LEDGER
) -> bool:
    """Signed by the log key alone and a ledger entry of contract §12; each failure named under `check`."""
    if log_key is None:
        result.fail(check, "no log key to check the ledger entry's signature against", entry.index)
        return False
    ledger = Key(nacl.signing.VerifyKey(log_key.public_key), "", 0, None)
    problems = check_ledger_signature(entry.index, entry.decoded, ledger, dsse.keyid_for(log_key.public_key))
    for problem in problems:
        result.fail(check, problem.message, entry.index)
    try:
        ledger_entries.check(entry.decoded.payload)
    except ledger_entries.LedgerEntryError as exc:
        result.fail(check, f"not a ledger entry of contract §12: {exc}", entry.index)
        return False
    return not problems


def _logged_keys(rows: list[Any], state: LedgerState, result: Result) -> dict[str, Key]:
    """The keys as the ledger entries say; every `keys` row compared with its entries."""
    for number, row in enumerate(rows):
        keyid = row.get("keyid") if isinstance(row, dict) else None
        record = state.keys.get(keyid) if isinstance(keyid, str) else None
        if record is None:
            result.fail(Code.KEYS, f"key {keyid or number}: no key_registered entry for it in the bundle")
            continue
        for name, theirs, logged in _keydifferences(row, record):
            result.fail(
                Code.KEYS, f"key {keyid}: {name} is {json_text(theirs)}, its ledger entries say {json_text(logged)}"
            )
    return {
        keyid: Key.of(record.public_key, record.organization, record.registered_at, record.revoked_at)
        for keyid, record in state.keys.items()
    }


def _keydifferences(row: Mapping[str, Any], record: ledger_entries.KeyRecord) -> Iterator[tuple[str, object, object]]:
    logged = {
        "organization": record.organization,
        "public_key": dsse.b64encode(record.public_key),
        "registered_at": record.registered_at,
        "revoked_at": record.revoked_at,
    }
    for name, value in logged.items():
        theirs = row.get(name)
        try:
            same = _moment(theirs) == value if name.endswith("_at") and theirs is not None else theirs == value
        except ValueError:
            same = False
        if not same:
            yield name, theirs, ledger_entries.rfc3339(value) if isinstance(value, dt.datetime) else value


def _logged_organizations(rows: list[Any], state: LedgerState, result: Result) -> dict[str, str]:
    """The countries as the organisations' latest entries say; every row compared with its entry."""
    for number, row in enumerate(rows):
        slug = row.get("slug") if isinstance(row, dict) else None
        record = state.organizations.get(slug) if isinstance(slug, str) else None
        if record is None:
            result.fail(
                Code.ORGANIZATIONS, f"organisation {slug or number}: no organization entry for it in the bundle"
            )
            continue
        logged = {"name": record.name, "country": record.country, "roles": list(record.roles)}
        for name, value in logged.items():
            if row.get(name) != value:
                message = f"organisation {slug}: {name} is {json_text(row.get(name))}, its entry {record.index} says"
                result.fail(Code.ORGANIZATIONS, f"{message} {json_text(value)}")
    return {slug: record.country for slug, record in state.organizations.items()}


def check_logged_rules(
    digest: str, version: str, records: Iterable[ledger_entries.RulesRecord], result: Result
) -> None:
    """Rule data of this digest and version is a logged rules entry's (of the regime's `records`)."""
    logged = [record for record in records if record.sha256 == digest]
    if not logged:
        result.fail(Code.RULES, f"the rule data (SHA-256 {digest}) is not a logged rules entry's")
    elif logged[-1].version != version:
        message = f"the rules entry {logged[-1].index} names version {logged[-1].version}, the rules {version}"
        result.fail(Code.RULES, message)


# --- the verdict's own entry --------------------------------------------------------------


def check_verdict_entry(
    document: Mapping[str, Any],
    log: Log,
    pinned: list[cosignature.WitnessKey],
    result: Result,
    *,
    kind: str,
    expected: Callable[[JSONObject], dict[str, object]],
) -> None:
    """The `verdict_entry` section (see the module docstring): a ledger entry of `kind` whose fields
    are `expected(verdict)`, and whose `at` is the verdict's `verified_at`; its absence named or noted."""
    checkpoint, log_key = log.checkpoint, log.key
    section = document.get("verdict_entry")
    if section is None:
        if log.ledger is not None:
            result.fail(VERDICT_ENTRY, "the bundle carries ledger entries but not the verdict's own entry")
        else:
            result.notes.append(NOTE_NO_VERDICT_ENTRY)
        return
    try:
        index, leaf_input, text = section["index"], section["leaf_input"], section["checkpoint"]
        lines, consistency = section["cosignatures"], [_hash(item) for item in section["consistency"]]
        if not isinstance(index, int) or not isinstance(leaf_input, str) or not isinstance(text, str):
            raise TypeError("index, leaf_input and checkpoint are an integer and two strings")
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise TypeError("cosignatures is a list of strings")
    except (KeyError, TypeError, ValueError) as exc:
        result.fail(VERDICT_ENTRY, f"the section cannot be read: {exc!r}")
        return
    result.verdict_entry = found = VerdictEntryCheck(index, cosigners=[_signer(line) for line in lines])
    later = _later_checkpoint(text, lines, log_key, pinned, found, result)
    _check_verdict_proof(section.get("proof"), index, leaf_input, text, later, result)
    if checkpoint is not None and later is not None:
        _check_consistency(checkpoint, later, consistency, result)
    try:
        entry = decode_leaf(index, leaf_input)
    except (ValueError, KeyError, TypeError) as exc:
        result.fail(VERDICT_ENTRY, f"the leaf input is not a Cairn entry: {exc}", index)
        return
    if _verdict_entry_reads(entry, log_key, result, kind):
        _compare_verdict_entry(entry.decoded.payload, document["verdict"], index, result, expected)


def _hash(text: object) -> bytes:
    raw = binascii.a2b_base64(text, strict_mode=True) if isinstance(text, str) else b""
    if len(raw) != 32:
        raise ValueError(f"{text!r} is not one base64 SHA-256 hash")
    return raw


def _later_checkpoint(
    text: str,
    lines: list[str],
    log_key: signed_note.Verifier | None,
    pinned: list[cosignature.WitnessKey],
    found: VerdictEntryCheck,
    result: Result,
) -> signed_note.Checkpoint | None:
    """The checkpoint proving the verdict entry: signed by the log key; which pinned witnesses cosigned it."""
    if log_key is None:
        result.fail(VERDICT_ENTRY, "no log key to check the verdict entry's checkpoint against")
        return None
    try:
        later = signed_note.open_checkpoint(text, log_key)
        body, _signatures = signed_note.split_note(text)
    except signed_note.NoteError as exc:
        result.fail(VERDICT_ENTRY, f"its checkpoint is not signed by the log key: {exc}")
        return None
    found.tree_size = later.tree_size
    found.witnesses = sorted(cosignature.verified(body, lines, pinned))
    return later


def _check_verdict_proof(
    text: object,
    index: int,
    leaf_input: str,
    checkpoint_text: str,
    later: signed_note.Checkpoint | None,
    result: Result,
) -> None:
    try:
        proof = tlog_proof.parse_proof(text)
    except tlog_proof.ProofError as exc:
        result.fail(VERDICT_ENTRY, f"the proof is not tlog-proof@v1: {exc}", index)
        return
    if proof.index != index:
        result.fail(VERDICT_ENTRY, f"the proof is for index {proof.index}", index)
    elif proof.checkpoint != checkpoint_text:
        result.fail(VERDICT_ENTRY, "the proof's checkpoint is not the section's", index)
    elif later is not None:
        try:
            tlog_proof.check_inclusion(proof, leaf_hash(leaf_input.encode("utf-8")), later)
        except tlog_proof.ProofError as exc:
            result.fail(VERDICT_ENTRY, f"inclusion: {exc}", index)


def _check_consistency(
    checkpoint: signed_note.Checkpoint, later: signed_note.Checkpoint, proof: list[bytes], result: Result
) -> None:
    """The later checkpoint extends the verdict's (RFC 9162 §2.1.4): one history, not a fork."""
    first, second = checkpoint.tree_size, later.tree_size
    if not merkle.verify_consistency(first, second, checkpoint.root_hash, later.root_hash, proof):
        message = f"the consistency proof does not show checkpoint {second} extends the verdict's checkpoint {first}"
        result.fail(VERDICT_ENTRY, message)


def _verdict_entry_reads(entry: Entry, log_key: signed_note.Verifier | None, result: Result, kind: str) -> bool:
    if not entry.decoded.is_ledger_entry or entry.decoded.payload.get("type") != kind:
        result.fail(VERDICT_ENTRY, f"the entry is not a {kind} ledger entry", entry.index)
        return False
    return _ledger_entry_checks(entry, log_key, result, VERDICT_ENTRY)


def report_sha256(verdict: JSONObject) -> str | None:
    """The SHA-256 of the verdict's report's payload bytes (None when it has no readable report)."""
    try:
        return hashlib.sha256(dsse.envelope_from_dict(verdict.get("report")).payload).hexdigest()
    except dsse.EnvelopeError:
        return None  # named by the report's check


def _compare_verdict_entry(
    logged: JSONObject,
    verdict: JSONObject,
    index: int,
    result: Result,
    expected_of: Callable[[JSONObject], dict[str, object]],
) -> None:
    """The logged verdict is the bundle's: each field, and the report's payload by its SHA-256."""
    expected = expected_of(verdict)
    for name, value in expected.items():
        if logged.get(name) != value:
            result.fail(
                VERDICT_ENTRY, f"{name}: logged {json_text(logged.get(name))}, the verdict's {json_text(value)}", index
            )
    verified_at = verdict.get("verified_at")
    if isinstance(verified_at, str) and _same_moment(verified_at, logged.get("at")) is False:
        message = f"at: logged {json_text(logged.get('at'))}, the verdict's verified_at {json_text(verified_at)}"
        result.fail(VERDICT_ENTRY, message, index)


def _same_moment(first: str, second: object) -> bool | None:
    """Whether two RFC 3339 times are one moment; None when the first does not read (named elsewhere)."""
    try:
        mine = _moment(first)
    except ValueError:
        return None
    try:
        return mine == _moment(second)
    except ValueError:
        return False


# --- the verdict's problems -------------------------------------------------------

# The integrity checks the bundle repeats for each entry (cairn_core.entries,
# the proofs): what the offline check finds broken is named by these codes.
ENTRY_CODES = frozenset(
    {
        Code.MALFORMED_ENVELOPE,
        Code.UNKNOWN_KEY,
        Code.BAD_SIGNATURE,
        Code.KEY_NOT_VALID,
        Code.ISSUER_SIGNATURE,
        Code.CHAIN,
        Code.INCLUSION,
        Code.STATEMENT,
    }
)
INTEGRITY_CODES = frozenset(code.value for code in Code)
# A verdict may list a problem the bundle cannot show, because it is about
# what the server stores beside the signed entries; such a problem is named
# "not checkable offline" instead of failing the bundle. Every other
# integrity code is about the signed entries, the proofs or the bundle
# itself, and a listed problem of one that the bundle does not show fails.
# (A listed problem can only lower the credit: a broken verdict's is 0.)
NOT_CHECKABLE_OFFLINE: Mapping[str, str] = {
    Code.LEAF_HASH: "the stored leaf_hash; a bundle carries the leaf input and the verifier hashes it itself",
    Code.ENTRY_HASH: "the stored entry_hash; the verifier computes each envelope's from its PAE itself",
    Code.STATEMENT: "the stored statement, type and issuer beside the signed payload (the bundle has the payload)",
    Code.SIGNATURE_RECORDS: "the stored signature records beside the envelope's signatures",
    Code.LINK: "the stored batch links beside the signed prev, quantity and custody",
    Code.CUSTODY: "the replay of the whole ledger (verify_ledger), beyond the claim's DAG",
    Code.MASS_BALANCE: "the replay of the whole ledger (verify_ledger), beyond the claim's DAG",
    Code.BATCH_STATE: "the Batch rows derived from the entries",
    Code.CLAIM_STATE: "the Claim rows derived from the entries",
    Code.CLAIM: "the stored Claim row beside the signed claim",
    Code.MISSING_ENTRY: "the entry rows of the whole log",
    Code.BEYOND_LOG: "the entry rows of the whole log",
    Code.TREE: "the stored Merkle nodes",
    Code.FRONTIER: "the log's stored frontier",
    Code.CHECKPOINT: "the stored checkpoint rows and the stored tree behind them",
}
NOT_RECOMPUTED = ("id", "report", "problems", "verified_at", "requested_by")


def signed_problems(verdict: JSONObject, result: Result) -> list[Problem]:
    problems: list[Problem] = []
    listed = verdict.get("problems") or []
    if not isinstance(listed, list):
        result.fail(Code.VERDICT, "problems: not a list")
        return problems
    for number, item in enumerate(listed):
        try:
            if not isinstance(item["index"], int) or not isinstance(item["code"], str):
                raise TypeError("index and code are an integer and a string")
            problems.append(Problem(item["index"], item["code"], str(item["message"])))
        except (KeyError, TypeError) as exc:
            result.fail(Code.VERDICT, f"problems: item {number} is not a problem ({exc!r})")
    return problems


def reconcile(listed: list[Problem], assessed: list[Problem], result: Result) -> list[Problem]:
    """The verdict's integrity problems sorted out (see NOT_CHECKABLE_OFFLINE); returns what is broken.

    What the offline check finds and the verdict lists is no failure but
    recomputed; what it finds and the verdict does not list stays a failure.
    """
    found = [item for item in result.failures if item.index is not None and item.check in ENTRY_CODES]
    findings = [Problem(item.index or 0, item.check, item.message) for item in found] + assessed
    keys = {(item.index, item.code) for item in listed}
    shown = {(item.index, item.code) for item in findings}
    result.failures = [item for item in result.failures if item not in found or (item.index, item.check) not in keys]
    result.add_problems(item for item in assessed if (item.index, item.code) not in keys)
    result.problems_recomputed = sorted(item for item in listed if (item.index, item.code) in shown)
    unshown = [item for item in listed if (item.index, item.code) not in shown]
    result.problems_not_checkable = sorted(item for item in unshown if item.code in NOT_CHECKABLE_OFFLINE)
    for item in unshown:
        if item.code not in NOT_CHECKABLE_OFFLINE:
            message = f"the verdict lists {item.code} ({item.message}), but the bundle does not show it"
            result.fail(Code.VERDICT, message, item.index)
    return findings + result.problems_not_checkable


def compare_findings(listed: list[Problem], recomputed: list[Problem], result: Result) -> None:
    """The problems that are not about integrity (unmet requirements, doubts) are recomputed exactly."""
    signed = {item for item in listed if item.code not in INTEGRITY_CODES}
    mine = {item for item in recomputed if item.code not in INTEGRITY_CODES}
    for item in sorted(signed ^ mine):
        which = "in the verdict, not recomputed" if item in signed else "recomputed, not in the verdict"
        result.fail(Code.VERDICT, f"problems: {item.code} ({item.message}) is {which}", item.index)


def check_request(verdict: JSONObject, result: Result | ReportResult) -> None:
    """`verified_at` and `requested_by` (v1.2) are signed but not recomputable: their shape only.

    Older verdicts carry neither.
    """
    if "verified_at" in verdict:
        try:
            _moment(verdict["verified_at"])
        except ValueError as exc:
            result.fail(Code.VERDICT, f"verified_at: {exc}")
    if "requested_by" in verdict and not _is_requester(verdict["requested_by"]):
        result.fail(Code.VERDICT, "requested_by is not {organization: slug, user: username or null}")


def _is_requester(value: object) -> bool:
    """{organization, user}: a slug and a username, or null for a command (and for a server
    that has no command organisation configured, a null organisation)."""
    return (
        isinstance(value, dict)
        and set(value) == {"organization", "user"}
        and all(value[name] is None or isinstance(value[name], str) for name in ("organization", "user"))
    )


def differences(
    signed: object, recomputed: object, path: str = "", depth: int = 2
) -> Iterator[tuple[str, object, object]]:
    """The fields that differ, named down to `depth` levels (`applied.issuer_countries`)."""
    if isinstance(signed, dict) and isinstance(recomputed, dict) and depth:
        for key in sorted(set(signed) | set(recomputed)):
            yield from differences(signed.get(key), recomputed.get(key), f"{path}{key}.", depth - 1)
    elif signed != recomputed:
        yield path.rstrip("."), signed, recomputed


def json_text(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def _short(value: object, limit: int = 160) -> str:
    text = json_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- a verdict's signed report alone (contract §8, "Trust") ---------------------------


class NotAReport(ValueError):
    """Neither a verification report (a DSSE envelope) nor a verdict that carries one."""


@dataclass
class ReportResult:
    """What `verify_report` found: the signed verdict, who signed it, and every failure."""

    verdict: JSONObject  # the report's payload, as far as it reads
    keyids: list[str]  # the keyids of the report's signatures
    log_key: str | None = None  # the pinned key, when given
    failures: list[Failure] = field(default_factory=list)

    @property
    def status(self) -> int:
        if self.failures:
            return FAILED
        return PASSED if self.log_key is not None else UNANCHORED

    @property
    def trusted(self) -> bool:
        return self.status == PASSED

    def fail(self, check: str, message: str) -> None:
        self.failures.append(Failure(str(check), message))

    def as_dict(self) -> dict[str, object]:
        return {
            "status": self.status,
            "trusted": self.trusted,
            "log_key": {"checked": self.log_key, "pinned": self.log_key is not None},
            "keyids": self.keyids,
            "failures": [failure.as_dict() for failure in self.failures],
            "verdict": self.verdict,
        }


def load_report(raw: bytes | str) -> object:
    """A report file's JSON, strictly; NotAReport when it is not JSON."""
    try:
        return untrusted.loads(raw)
    except untrusted.Unreadable as exc:
        raise NotAReport(str(exc)) from exc


def verify_report(
    document: object,
    *,
    log_key: signed_note.Verifier | None = None,
    report_type: str,
    check_shape: Callable[[JSONObject, ReportResult], None],
) -> ReportResult:
    """Check a verdict's signed report (or a verdict with its report) under the pinned log key.

    Checked: the signature by the pinned key (keyid = SHA-256 of it), the
    payload's shape (contract §5's verdict), and for a whole verdict that
    its fields are the report's payload. Nothing is recomputed: that needs
    the bundle.
    """
    envelope, outer = _report_envelope(document, report_type)
    result = ReportResult({}, [item.keyid for item in envelope.signatures], str(log_key) if log_key else None)
    try:
        payload = untrusted.loads(envelope.payload)
    except ValueError as exc:
        payload = None
        result.fail(Code.REPORT, f"the report's payload is not JSON: {exc}")
    if payload is not None and not isinstance(payload, dict):
        result.fail(Code.REPORT, "the report's payload is not a JSON object")
    result.verdict = payload if isinstance(payload, dict) else {}
    if payload is not None:
        check_shape(result.verdict, result)
    if outer is not None and envelope.payload != report_payload(_without_report(outer)):
        result.fail(Code.REPORT, "the verdict's fields are not the report's payload")
    if log_key is not None:
        _check_report_signature(envelope, log_key, result)
    return result


def report_type_of(document: object) -> str:
    """The payload type of a report (or of a verdict's report): which regime's verdict it signs."""
    if isinstance(document, dict) and "report" in document:
        document = document["report"]
    found = document.get("payloadType") if isinstance(document, dict) else None
    return found if isinstance(found, str) else ""


def _report_envelope(document: object, report_type: str) -> tuple[dsse.Envelope, JSONObject | None]:
    outer = None
    if isinstance(document, dict) and "report" in document:
        outer, document = document, document["report"]
    try:
        envelope = dsse.envelope_from_dict(document)
    except dsse.EnvelopeError as exc:
        raise NotAReport(f"not a DSSE envelope, nor a verdict with a report: {exc}") from exc
    if envelope.payload_type != report_type:
        raise NotAReport(f"the payload type is {envelope.payload_type!r}, not {report_type}")
    return envelope, outer


def report_payload(body: Mapping[str, object]) -> bytes:
    """A signed report's payload bytes, in every regime: the verdict (with its id)
    as sorted, compact ASCII JSON."""
    return dsse.canonical_json(body).encode("ascii")


def _without_report(verdict: JSONObject) -> JSONObject:
    return {key: value for key, value in verdict.items() if key != "report"}


def _check_report_signature(envelope: dsse.Envelope, log_key: signed_note.Verifier, result: ReportResult) -> None:
    keyid = dsse.keyid_for(log_key.public_key)
    signed = [item for item in envelope.signatures if item.keyid == keyid]
    if not signed:
        others = ", ".join(result.keyids)
        result.fail(Code.LOG, f"log key: the report is signed by keyid {others}, not the pinned log key's {keyid}")
    elif not dsse.verify_signature(log_key.public_key, envelope.pae, signed[0].sig):
        result.fail(Code.REPORT, f"the report's signature by the pinned log key ({keyid}) does not verify")
