"""The proof bundle of a verification (contract §8), and its offline verifier.

A bundle is one JSON document that lets anyone check a verdict with no
server and no network: the signed verdict, the log's key, the checkpoint
the verdict was computed against, every entry of the claim's upstream DAG
with a C2SP tlog-proof@v1 inclusion proof, the keys and organisations the
entries name, and the rule data the verdict applied.

`verify(document)` checks, in this order, and names every failure:

1. **log**: the verifier string names the log's origin and public key;
2. **checkpoint**: signed by the log key under its origin;
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
   rules alone (`cairn_core.verdict`, the server's own code), it is the
   signed verdict, field by field.

Nothing here imports Django; the standard library, `cryptography`'s
companion PyNaCl and the core modules are all it needs.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, TypedDict, cast

from cairn_core import dsse, lineage, rules, ruleset_json, signed_note, tlog_proof
from cairn_core import verdict as verdicts
from cairn_core.entries import (
    Decoded,
    Key,
    check_prev,
    check_signatures,
    created_again,
    created_batches,
    decode_envelope,
    leaf_hash,
    named_batches,
)
from cairn_core.payload import JSON, PAYLOAD_TYPE, JSONObject
from cairn_core.problems import Code, Problem

BUNDLE = "cairn.bundle/v1"
MEDIA_TYPE = "application/vnd.cairn.bundle+json"
GZIP_MAGIC = b"\x1f\x8b"
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


class FailureDict(TypedDict):
    check: str
    index: int | None
    message: str


class NotABundle(ValueError):
    """The document is not a Cairn proof bundle at all (as opposed to one that fails)."""


def file_name(vin: str) -> str:
    return f"{vin}.cairn-bundle.json"


# --- the result -------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """One failed check: which, of which entry (None for the bundle as a whole), why."""

    check: str
    message: str
    index: int | None = None

    @property
    def line(self) -> str:
        where = f"entry {self.index}: " if self.index is not None else ""
        return f"{where}{self.check}: {self.message}"

    def as_dict(self) -> FailureDict:
        return {"check": self.check, "index": self.index, "message": self.message}


@dataclass
class Result:
    vin: str
    verdict: JSONObject  # the signed verdict, as the bundle carries it
    recomputed: Mapping[str, object] | None = None
    entries: int = 0
    tree_size: int | None = None
    failures: list[Failure] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.failures

    def fail(self, check: str, message: str, index: int | None = None) -> None:
        self.failures.append(Failure(str(check), message, index))

    def add_problems(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.fail(problem.code, problem.message, problem.index)

    def as_dict(self) -> dict[str, object]:
        return {
            "verified": self.verified,
            "vin": self.vin,
            "claim_index": self.verdict.get("claim_index"),
            "credit_usd": self.verdict.get("credit_usd"),
            "entries": self.entries,
            "tree_size": self.tree_size,
            "failures": [failure.as_dict() for failure in self.failures],
            "verdict": {key: value for key, value in self.verdict.items() if key != "report"},
            "recomputed": self.recomputed,
        }


# --- reading ----------------------------------------------------------------------


def load(raw: bytes | str) -> BundleDocument:
    """Parse a bundle file strictly (gzip-compressed or not); NotABundle when it is not one."""
    if isinstance(raw, bytes) and raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise NotABundle(f"not a gzip file: {exc}") from exc
    try:
        document = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotABundle(f"not JSON: {exc}") from exc
    return check_shape(document)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate keys")
    return document


def check_shape(document: object) -> BundleDocument:
    if not isinstance(document, dict):
        raise NotABundle("a bundle is a JSON object")
    if document.get("bundle") != BUNDLE:
        raise NotABundle(f'"bundle" is not "{BUNDLE}"')
    for name, kind in SECTIONS.items():
        if not isinstance(document.get(name), kind):
            raise NotABundle(f'"{name}" is missing or not a JSON {kind.__name__}')
    unknown = set(document) - set(SECTIONS)
    if unknown:
        raise NotABundle(f"unknown sections {sorted(unknown)}")
    return cast(BundleDocument, document)  # each section's JSON type checked above


# --- verifying ---------------------------------------------------------------------


@dataclass
class Entry:
    """One bundle entry, decoded."""

    index: int
    integrated_time: int
    decoded: Decoded


def verify(document: object, *, processes: int = 1) -> Result:
    """Every check of contract §8 over a parsed bundle (see the module docstring).

    With `processes=2` (what `cairn-verify` uses on a machine with more than
    one core) the Ed25519 checks, half the work, run in a forked child
    process while this one checks the chains and the report and recomputes
    the verdict. (A thread does not help: libsodium releases the GIL, but a
    thread running Python beside it hands the GIL back too seldom.) Call it
    so only from a single-threaded program: forking copies one thread.
    """
    document = check_shape(document)
    verdict = document["verdict"]
    result = Result(vin=document["vin"], verdict=verdict)
    log_key = _log_key(document["log"], result)
    checkpoint = _checkpoint(document["checkpoint"], log_key, result)
    result.tree_size = checkpoint.tree_size if checkpoint else None
    keys = _keys(document["keys"], result)
    signatures = _signatures(document["entries"], keys, in_child=processes > 1)
    entries = _entries(document["entries"], document["checkpoint"], checkpoint, result)
    result.entries = len(entries)
    _check_chains(entries, result)
    _check_report(verdict, log_key, result)
    ruleset = _rules(document["rules"], verdict, result)
    countries = _organizations(document["organizations"], result)
    _check_claim(document, entries, result)
    assessed = _assess(verdict, entries, countries, ruleset, result) if ruleset is not None else None
    result.add_problems(signatures(entries))
    if assessed is not None and checkpoint is not None:
        _compare(verdict, assessed, checkpoint, document["checkpoint"], result)
    result.failures.sort(key=lambda failure: (failure.index is not None, failure.index or 0))
    return result


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
    except (KeyError, TypeError, binascii.Error, signed_note.NoteError) as exc:
        result.fail(Code.LOG, f"the log's origin, public key and verifier cannot be read: {exc}")
        return None
    if (verifier.name, verifier.public_key) != (origin, public_key):
        result.fail(Code.LOG, "the verifier string names another origin or key than the log's")
        return None
    return verifier


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
    except (ValueError, KeyError, TypeError) as exc:
        result.fail(Code.MALFORMED_ENVELOPE, f"the leaf input is not a Cairn entry: {exc}", index)
        return None


def decode_leaf(index: int, leaf_input: str) -> Entry:
    """A leaf input (contract §4) as an entry; ValueError, KeyError or TypeError when it is none."""
    leaf = json.loads(leaf_input)
    envelope, integrated_time = leaf["envelope"], leaf["integrated_time"]
    if envelope["payloadType"] != PAYLOAD_TYPE:
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


def _check_report(verdict: Mapping[str, object], log_key: signed_note.Verifier | None, result: Result) -> None:
    report = verdict.get("report")
    try:
        envelope = dsse.envelope_from_dict(report)
    except dsse.EnvelopeError as exc:
        result.fail(Code.REPORT, f"the verdict's report is not a DSSE envelope: {exc}")
        return
    if envelope.payload_type != verdicts.REPORT_TYPE:
        result.fail(Code.REPORT, f"the report's payload type is {envelope.payload_type!r}")
    body = {key: value for key, value in verdict.items() if key != "report"}
    if envelope.payload != verdicts.report_payload(body):
        result.fail(Code.REPORT, "the report's payload is not the verdict without its report")
    if log_key is None:
        return
    keyid = dsse.keyid_for(log_key.public_key)
    signed = [item for item in envelope.signatures if item.keyid == keyid]
    if not signed or not dsse.verify_signature(log_key.public_key, envelope.pae, signed[0].sig):
        result.fail(Code.REPORT, "the report is not signed by the log key")


def _rules(document: Mapping[str, JSON], verdict: Mapping[str, object], result: Result) -> rules.RuleSet | None:
    try:
        ruleset = ruleset_json.from_json(document)
    except ruleset_json.RulesError as exc:
        result.fail(Code.RULES, str(exc))
        return None
    applied = verdict.get("applied")
    if not isinstance(applied, dict):
        applied = {}
    if ruleset.version != applied.get("rules_version"):
        wanted = applied.get("rules_version")
        result.fail(Code.RULES, f"the rules are version {ruleset.version}, the verdict's {wanted}")
    if ruleset_json.digest(ruleset) != applied.get("rules_sha256"):
        result.fail(Code.RULES, "the rule data is not the data the verdict applied (SHA-256 differs)")
    return ruleset


def _organizations(rows: list[Any], result: Result) -> dict[str, str]:
    countries = {}
    for number, row in enumerate(rows):
        try:
            countries[row["slug"]] = row["country"]
        except (KeyError, TypeError):
            result.fail(Code.ORGANIZATIONS, f"organisation {number} has no slug and country")
    return countries


def _check_claim(document: BundleDocument, entries: list[Entry], result: Result) -> None:
    verdict = document["verdict"]
    if verdict.get("vin") != document["vin"]:
        result.fail(Code.VERDICT, f"the bundle is for VIN {document['vin']}, the verdict for {verdict.get('vin')}")
    claims = [entry for entry in entries if entry.index == verdict.get("claim_index")]
    if not claims:
        result.fail(Code.ENTRIES, f"the claim's entry {verdict.get('claim_index')} is not in the bundle")
        return
    payload = claims[0].decoded.payload
    if payload.get("type") != "claim" or payload.get("vin") != document["vin"]:
        result.fail(Code.VERDICT, f"entry {claims[0].index} is not the claim on VIN {document['vin']}", claims[0].index)


@dataclass
class Assessed:
    """The rules applied to the bundle's statements (before the integrity checks are in)."""

    facts: lineage.ClaimFacts
    done: lineage.Assessment
    problems: list[Problem]
    ruleset: rules.RuleSet
    issuers: dict[str, str]


def _assess(
    verdict: JSONObject, entries: list[Entry], countries: Mapping[str, str], ruleset: rules.RuleSet, result: Result
) -> Assessed | None:
    statements = {entry.index: entry.decoded.payload for entry in entries}
    claim_index = verdict.get("claim_index")
    try:
        if claim_index is None:
            raise KeyError(None)  # as statements[None] would
        facts = verdicts.claim_facts(claim_index, statements[claim_index])
        dag = verdicts.upstream(statements, claim_index)
    except verdicts.READ_ERRORS as exc:
        result.fail(Code.VERDICT, f"the claim cannot be read from the bundle: {exc!r}")
        return None
    done, problems = verdicts.assess(facts, statements, dag, countries, ruleset)
    return Assessed(facts, done, problems, ruleset, verdicts.issuer_countries(statements, dag, countries))


def _compare(
    verdict: JSONObject, assessed: Assessed, checkpoint: signed_note.Checkpoint, checkpoint_text: str, result: Result
) -> None:
    """The verdict recomputed from the bundle alone, compared field by field with the signed one."""
    broken = [Problem(item.index, item.check, item.message) for item in result.failures if item.index is not None]
    recomputed = verdicts.build_verdict(
        assessed.facts,
        assessed.done,
        assessed.ruleset,
        broken=broken + assessed.problems,
        checkpoint=checkpoint_text,
        checkpoint_size=checkpoint.tree_size,
        issuers=assessed.issuers,
    ).as_dict()
    result.recomputed = recomputed
    signed = {key: value for key, value in verdict.items() if key not in ("id", "report")}
    for path, mine, theirs in _differences(signed, recomputed):
        result.fail(Code.VERDICT, f"{path}: signed {_short(mine)}, recomputed {_short(theirs)}")


def _differences(
    signed: object, recomputed: object, path: str = "", depth: int = 2
) -> Iterator[tuple[str, object, object]]:
    """The fields that differ, named down to `depth` levels (`applied.issuer_countries`)."""
    if isinstance(signed, dict) and isinstance(recomputed, dict) and depth:
        for key in sorted(set(signed) | set(recomputed)):
            yield from _differences(signed.get(key), recomputed.get(key), f"{path}{key}.", depth - 1)
    elif signed != recomputed:
        yield path.rstrip("."), signed, recomputed


def _short(value: object, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"
