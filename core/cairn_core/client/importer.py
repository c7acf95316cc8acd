"""`cairn import`: bulk history from JSON Lines or CSV, through the batch endpoint.

Rows are signed and posted in batches (POST /attestations/batch, up to 1000
envelopes a request), several at once (`in_flight`) save where a chunk
builds on a chunk in flight: it waits for that one's answer. Missing `prev`
fields are filled with the head the import itself left (a row may build on
an earlier row's batch) or else the server's current head.

Resuming. A journal beside the file (`FILE.cairn-journal.jsonl`) records
each row's signed envelope *before* its batch is posted, and each row's
result once answered, flushed to disk batch by batch. Run the same command
again after an interruption: answered rows are skipped, and rows signed but
not answered, or answered with a server's failure (a 5xx result, nothing
of it stored), are posted again with the very envelopes signed before, which
the ledger answers 200 (the same receipt) when they had landed. So nothing
is posted twice. The journal starts with the file's SHA-256: a changed file
is refused rather than resumed.

Every refusal (the server's, with its contract code, or the file's own:
`invalid_row`) is written to a CSV report, `FILE.refusals.csv`, with the
row number, status, code and message.

CSV columns (header row; empty cells are left out; one statement a row):

    type            origin | transform | transfer
    issuer          the issuer's slug (default: --issuer / CAIRN_ISSUER)
    issued_at       RFC 3339 UTC (default: when the row is signed)
    occurred_at     RFC 3339 UTC, when the activity happened (history)
    batch           origin, transform: the new batch; transfer: the batch moved
    material, quantity, unit, value_added_usd, component
                    origin and transform: the output batch
    minerals        origin: kg contained, "lithium=60;cobalt=1.5"
    activity, site_name, site_country
                    origin and transform
    inputs          transform: "batch=quantity;batch=quantity"
    to              transfer: the receiving organisation's slug
    prev            transfer: the batch's head (default: filled)

Other statement types (certify, claim) and transforms with several outputs
go in JSON Lines: one statement (or one signed envelope) per line.

EPCIS 2.0 (`cairn import --epcis`): a JSON-LD EPCISDocument, its events
numbered from 1 as rows, each mapped by cairn_core.epcis_import to a
statement of the issuer; an event that maps to none is reported as
`not_mapped` with the reason, and nothing is guessed for it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple, TypedDict, TypeGuard, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core.client import statements, wire
from cairn_core.client.api import MAX_BATCH, CairnError, Client
from cairn_core.client.statements import Document
from cairn_core.client.wire import BatchResult, Refused
from cairn_core.payload import JSONObject, PayloadError

CSV_COLUMNS = (
    "type",
    "issuer",
    "issued_at",
    "occurred_at",
    "batch",
    "material",
    "quantity",
    "unit",
    "value_added_usd",
    "component",
    "minerals",
    "activity",
    "site_name",
    "site_country",
    "inputs",
    "to",
    "prev",
)
REPORT_COLUMNS = ("row", "status", "code", "message", "head", "batch", "caused_by")
# Chunks posted at once (`cairn import --in-flight`): the server appends them side by side.
IN_FLIGHT = 3
MAX_IN_FLIGHT = 8
NO_HEAD = "0" * 64  # the prev of a probe for a head (see Importer._consented_head): no entry's


class ImportFailure(Exception):
    """The import cannot start or go on (a changed file, an unreadable journal)."""


class RowError(ValueError):
    """A row that is not a statement (`caused_by`: the earlier row whose refusal made it one)."""

    code = "invalid_row"

    def __init__(self, message: str, *, caused_by: int | None = None) -> None:
        super().__init__(message)
        self.caused_by = caused_by


class NotMapped(RowError):
    """An EPCIS event that is no statement of the issuer's."""

    code = "not_mapped"


# --- reading rows ---------------------------------------------------------------


def _pairs(text: str, what: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, equals, value = part.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise RowError(f"{what} is name=value;name=value, not {text!r}")
        pairs.append((name.strip(), value.strip()))
    return pairs


def statement_from_csv(row: dict[str, str]) -> JSONObject:
    """One CSV row (see the module's columns) as a statement."""
    cells = {name: (value or "").strip() for name, value in row.items() if name}
    unknown = sorted(set(cells) - set(CSV_COLUMNS))
    if unknown:
        raise RowError(f"unknown columns {', '.join(unknown)}")
    cells = {name: value for name, value in cells.items() if value}
    kind = cells.get("type")
    statement: JSONObject = {"type": kind}
    for name in ("issuer", "issued_at", "occurred_at"):
        if name in cells:
            statement[name] = cells[name]
    if kind in ("origin", "transform"):
        output: dict[str, str | dict[str, str]] = {
            name: cells[name] for name in ("batch", "material", "quantity", "unit", "value_added_usd") if name in cells
        }
        if "component" in cells:
            output["component"] = cells["component"]
        if kind == "origin":
            output["minerals"] = dict(_pairs(cells.get("minerals", ""), "minerals"))
        statement["activity"] = cells.get("activity")
        statement["site"] = {"name": cells.get("site_name"), "country": cells.get("site_country")}
        if kind == "transform":
            statement["inputs"] = [
                {"batch": batch, "quantity": quantity} for batch, quantity in _pairs(cells.get("inputs", ""), "inputs")
            ]
        statement["outputs"] = [output]
    elif kind == "transfer":
        statement.update({name: cells[name] for name in ("batch", "prev", "to") if name in cells})
    else:
        raise RowError(f"type must be origin, transform or transfer in CSV, not {kind!r} (use JSON Lines)")
    return statement


def read_rows(path: Path) -> Iterator[tuple[int, JSONObject | RowError]]:
    """(line number, statement or envelope, or the reason the row is not one).
    Rows are numbered by their line in the file, as a spreadsheet numbers
    them: the header of a CSV is line 1, its first row line 2."""
    if path.suffix.lower() == ".csv":
        yield from read_csv(path)
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError as exc:
                yield number, RowError(f"not JSON: {exc}")
                continue
            yield number, document if isinstance(document, dict) else RowError("a line is one JSON object")


def read_csv(path: Path) -> Iterator[tuple[int, JSONObject | RowError]]:
    """A CSV as a spreadsheet saves it: UTF-8 with or without a byte-order
    mark (Excel's "CSV UTF-8"), `,` or `;` between cells (`;` where the
    header holds more of them), headers in any case. The header is checked
    once: an unknown column stops the import with one message."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportFailure(
            f'{path}, line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as "CSV UTF-8"'
        ) from exc
    header = text.partition("\n")[0]
    reader = csv.DictReader(
        io.StringIO(text, newline=""), delimiter=";" if header.count(";") > header.count(",") else ","
    )
    names = [(name or "").strip().lower() for name in reader.fieldnames or []]
    unknown = sorted(set(names) - set(CSV_COLUMNS) - {""})
    if unknown:
        raise ImportFailure(
            f"{path}, line 1: unknown column(s) {', '.join(unknown)}; the columns are {', '.join(CSV_COLUMNS)}"
        )
    reader.fieldnames = names
    for row in reader:
        try:
            yield reader.line_num, statement_from_csv(row)
        except RowError as exc:
            yield reader.line_num, exc


def read_epcis(path: Path, issuer: str) -> Iterator[tuple[int, JSONObject | RowError]]:
    """The events of an EPCIS 2.0 document as statements of `issuer`, numbered from 1."""
    from cairn_core import epcis_import

    try:
        # numbers exact: a quantity is a decimal, never a float
        document = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
        mapped = epcis_import.statements_of(document, issuer=issuer)
    except (ValueError, epcis_import.Unmapped) as exc:
        raise ImportFailure(f"{path} is not an EPCIS 2.0 document: {exc}") from exc
    for number, item in enumerate(mapped, start=1):
        yield number, NotMapped(str(item)) if isinstance(item, epcis_import.Unmapped) else item


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- the journal -------------------------------------------------------------------


class Journal:
    """Append-only JSON Lines: a header `{"source", "sha256"}` for each version
    of the file imported, then `{"row", "digest", "envelope"}` when a row is
    signed and `{"row", "digest", "result"}` when it is answered.

    A row is known by its content (`digest`: the SHA-256 of the row as read,
    and the issuer it is signed as), not by its line: a rerun of a fixed,
    reordered or copied file finds each unchanged row's envelope and result
    wherever the row now stands. `signed` and `results` are by line, for the
    file being imported (`place`)."""

    def __init__(self, path: Path, source: Path, sha256: str, *, read_only: bool = False) -> None:
        self.path = path
        self.sha256 = sha256
        self.signed: dict[int, Document] = {}  # envelopes, by line
        self.results: dict[int, BatchResult] = {}  # by line
        self.digests: dict[int, str] = {}  # by line
        self.envelopes: dict[str, tuple[int, Document]] = {}  # by digest: (line when signed, envelope)
        self.answers: dict[str, tuple[int, BatchResult]] = {}  # by digest
        self.legacy: dict[str, dict[int, object]] = {"envelope": {}, "result": {}}  # records without a digest
        self.recorded_sha256: str | None = None
        self.kept: set[str] = set()  # the digests of rows whose refusal stands this run
        self.handle: io.TextIOBase | None = None
        if path.exists():
            self._load()
        if read_only:
            return
        self.handle = path.open("a", encoding="utf-8")
        if self.recorded_sha256 != sha256:
            self.write({"source": source.name, "sha256": sha256})
            self.sync()

    def _load(self) -> None:
        try:
            lines = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except ValueError:
            # a line cut short by a crash is the last one: drop it
            text = self.path.read_text(encoding="utf-8")
            good = text[: text.rstrip("\n").rfind("\n") + 1]
            self.path.write_text(good, encoding="utf-8")
            lines = [json.loads(line) for line in good.splitlines() if line.strip()]
        for record in lines:
            if "sha256" in record:
                self.recorded_sha256 = record["sha256"]
            elif "digest" not in record:  # written before rows were known by content
                for kind in ("envelope", "result"):
                    if kind in record:
                        self.legacy[kind][record["row"]] = record[kind]
            elif "envelope" in record:
                self.envelopes[record["digest"]] = (record["row"], record["envelope"])
                self.answers.pop(record["digest"], None)  # signed again: answered anew
            elif "result" in record:
                self.answers[record["digest"]] = (record["row"], record["result"])

    def place(self, number: int, digest: str, *, keep_refusal: bool) -> None:
        """What the journal knows of the row at line `number`, whose content
        is `digest`: its envelope, and its result when it stands. A row that
        landed keeps its result when the file is the one last imported
        (resuming: it is skipped), else it is posted again as it was (the
        ledger answers 200). A refused row keeps its refusal only with
        `keep_refusal`; otherwise it is signed again."""
        self.digests[number] = digest
        same_file = self.recorded_sha256 == self.sha256
        signed = self.envelopes.get(digest)
        answered = self.answers.get(digest)
        if signed is None and same_file and number in self.legacy["envelope"]:
            signed = (number, cast(Document, self.legacy["envelope"][number]))
            legacy = self.legacy["result"].get(number)
            answered = None if legacy is None else (number, cast(BatchResult, legacy))
        if signed is None:
            return
        result = answered[1] if answered is not None else None
        if result is not None and _is_refusal(result) and _settled(result):
            causes = cast(Mapping[str, list[str]], result).get("causes", [])
            if (
                keep_refusal
                and all(cause in self.kept for cause in causes)
                and not (result.get("caused_by") and not causes)
            ):
                # a refusal caused by earlier rows stands while each of them stays refused as it was
                self.signed[number], self.results[number] = signed[1], result
                self.kept.add(digest)
            return
        self.signed[number] = signed[1]
        if result is not None and _settled(result) and same_file and signed[0] == number:
            self.results[number] = result

    def write(self, record: Mapping[str, object]) -> None:
        if self.handle is not None:
            self.handle.write(json.dumps(record, separators=(",", ":")) + "\n")

    def sync(self) -> None:
        if self.handle is not None:
            self.handle.flush()
            os.fsync(self.handle.fileno())

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def row_digest(item: JSONObject, issuer: str | None) -> str:
    """A row's content as the journal knows it: the row as read, and the issuer it is signed as."""
    text = json.dumps([item, issuer or ""], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the import ----------------------------------------------------------------------


# Refusals a row gets when the ledger already holds it: its new batch
# exists, or the batch it transfers has moved on (to where it sent it).
LOGGED_BY_EFFECT = frozenset({"batch_exists", "not_custodian", "stale_head"})
# Refusals of a row signed on a head the ledger never had.
BUILT_ON_A_STALE_HEAD = frozenset({"stale_head", "unknown_batch", "not_custodian"})


def _content(statement: Document) -> JSONObject:
    """A statement without what signing it again changes: `issued_at`, and the `prev` filled from a head."""
    copy: JSONObject = json.loads(json.dumps(statement))
    copy.pop("issued_at", None)
    copy.pop("prev", None)
    for item in copy.get("inputs") or []:
        if isinstance(item, dict):
            item.pop("prev", None)
    return copy


def _created_by_row(item: JSONObject) -> list[str]:
    try:
        return statements.created_batches(statements.statement_of(item) if statements.is_envelope(item) else item)
    except (ValueError, KeyError, TypeError):
        return []  # not a statement: the row is refused on its own


class Flight(NamedTuple):
    """A chunk posted, its answer on the way (None: no row of it was posted)."""

    future: Future[list[BatchResult]] | None
    chunk: list[tuple[int, JSONObject | RowError]]
    posted: list[tuple[int, Document]]
    touched: frozenset[str]  # the batches its posted rows name or create

    def done(self) -> bool:
        return self.future is None or self.future.done()


def _caused(refusal: Refused, lines: list[int], journal: Journal) -> Refused:
    """`refusal` naming the earlier rows that caused it: their lines (for the
    report) and contents (so that it stands as long as they stay refused)."""
    causes = [journal.digests[line] for line in lines if line in journal.digests]
    return cast(Refused, {**refusal, "caused_by": lines, "causes": causes})


def _batches_of(statement: Document) -> set[str]:
    """The batches a statement names or creates."""
    return {batch for _, batch in statements.named_batches(dict(statement))} | set(
        statements.created_batches(statement)
    )


def _batches_of_rows(rows: list[tuple[int, JSONObject | RowError]]) -> set[str]:
    found: set[str] = set()
    for _, item in rows:
        if isinstance(item, RowError):
            continue
        try:
            found |= _batches_of(statements.statement_of(item) if statements.is_envelope(item) else item)
        except (ValueError, KeyError, TypeError):
            continue  # not a statement: the row is refused on its own
    return found


def _depended_on(earlier: list[tuple[Document, set[str]]], batches: set[str]) -> list[Document]:
    """The earlier envelopes (in their order) that `batches` build on: those
    touching one of them, and, transitively, those touching the batches
    these touch (a transform's inputs)."""
    wanted, taken = set(batches), [False] * len(earlier)
    grew = True
    while grew:
        grew = False
        for position, (_, touched) in enumerate(earlier):
            if not taken[position] and touched & wanted:
                taken[position], grew = True, True
                wanted |= touched
    return [envelope for (envelope, _), keep in zip(earlier, taken, strict=True) if keep]


class SummaryDict(TypedDict):
    """`Summary.as_dict` (and `cairn import --json`)."""

    rows: int
    done_before: int
    created: int
    already_logged: int
    in_ledger: int  # of those, found in the ledger by their content (no journal told of them)
    refused: int
    refusals: dict[str, int]  # contract code: rows refused with it
    report: str | None
    journal: str | None


@dataclass
class Summary:
    rows: int = 0
    done_before: int = 0
    statuses: Counter[int | None] = field(default_factory=Counter)  # None: a journal's result without one
    in_ledger: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    report: Path | None = None
    journal: Path | None = None

    def as_dict(self) -> SummaryDict:
        return {
            "rows": self.rows,
            "done_before": self.done_before,
            "created": self.statuses.get(201, 0),
            "already_logged": self.statuses.get(200, 0),
            "in_ledger": self.in_ledger,
            "refused": sum(self.refusals.values()),
            "refusals": dict(sorted(self.refusals.items())),
            "report": str(self.report) if self.report else None,
            "journal": str(self.journal) if self.journal else None,
        }


def _is_refusal(result: BatchResult) -> TypeGuard[Refused]:
    return result.get("status") not in (200, 201)


def _settled(result: BatchResult | None) -> bool:
    """A row answered for good: logged, or refused by the ledger (4xx). A
    server's failure (5xx: nothing of it stored) is posted again by the
    next run, with the envelope signed before."""
    status = result.get("status") if result is not None else None
    return isinstance(status, int) and status < 500


class Importer:
    def __init__(
        self,
        client: Client,
        key: Ed25519PrivateKey | None,
        source: str | os.PathLike[str],
        *,
        issuer: str | None = None,
        journal: str | os.PathLike[str] | None = None,
        report: str | os.PathLike[str] | None = None,
        batch_size: int = MAX_BATCH,
        progress: Callable[[int], None] = lambda done: None,
        epcis: bool = False,
        cosigners: Sequence[Ed25519PrivateKey] = (),
        retry_refused: bool = False,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ImportFailure(f"a batch holds 1 to {MAX_BATCH} rows")
        if not 1 <= in_flight <= MAX_IN_FLIGHT:
            raise ImportFailure(f"1 to {MAX_IN_FLIGHT} chunks may be in flight")
        self.in_flight = in_flight
        if epcis and not issuer:
            raise ImportFailure("an EPCIS import signs as one organisation: give --issuer (or CAIRN_ISSUER)")
        self.epcis = epcis
        self.retry_refused = retry_refused
        self.client, self.key, self.issuer = client, key, issuer
        self.cosigners = list(cosigners)
        self.source = Path(source)
        self.journal_path = (
            Path(journal) if journal else self.source.with_name(self.source.name + ".cairn-journal.jsonl")
        )
        self.report_path = Path(report) if report else self.source.with_name(self.source.name + ".refusals.csv")
        self.batch_size = batch_size
        self.progress = progress
        self.heads: dict[str, str] = {}
        # batch id -> the row that was to create it and was refused
        self.refused_creators: dict[str, int] = {}
        self.row_batches: dict[int, set[str]] = {}  # the batches each row names or creates
        self.just_signed: dict[int, tuple[JSONObject, str]] = {}  # row: its statement and entry_hash
        self.fresh: set[int] = set()  # rows signed in this run
        self.changed: set[str] = set()  # batches the answers since a chunk was signed refused a row on

    def rows(self) -> list[tuple[int, JSONObject | RowError]]:
        try:
            if self.epcis and self.issuer:
                return list(read_epcis(self.source, self.issuer))
            return list(read_rows(self.source))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise ImportFailure(f"cannot read {self.source}: {exc}") from exc

    def run(self, rows: list[tuple[int, JSONObject | RowError]] | None = None) -> Summary:
        """Import every row not answered yet (`rows`: as `rows()` read them)."""
        rows = self.rows() if rows is None else rows
        journal = Journal(self.journal_path, self.source, file_sha256(self.source))
        summary = Summary(rows=len(rows), report=self.report_path, journal=self.journal_path)
        try:
            rows = self._place(rows, journal, keep_refusals=not self.retry_refused)
            self._replay(journal)
            todo = [(number, item) for number, item in rows if not _settled(journal.results.get(number))]
            summary.done_before = len(rows) - len(todo)
            self.progress(summary.done_before)
            self._post_all(todo, journal)
        finally:
            journal.close()
            self._summarise(summary, journal.results)
        return summary

    def validate(self, rows: list[tuple[int, JSONObject | RowError]] | None = None) -> Summary:
        """Every row through POST /attestations/validate, signed as the import
        would sign it (a row the journal holds: its envelope), in chunks as
        the import posts them: nothing is appended and the journal is left
        as it was. The refusals go to the report.

        The server checks each chunk against the ledger as it stands; a row
        building on an earlier chunk's rows (a transfer of a batch created
        1,000 rows above) would find nothing there. So each chunk is sent
        after the earlier rows that would be logged and that its batches
        depend on (their chains, transitively), whose results are dropped."""
        rows = self.rows() if rows is None else rows
        journal = Journal(self.journal_path, self.source, file_sha256(self.source), read_only=True)
        summary = Summary(rows=len(rows), report=self.report_path)
        rows = self._place(rows, journal, keep_refusals=False)  # a row refused before: as it would be retried
        self._replay(journal)
        would_log: list[tuple[Document, set[str]]] = []
        start = 0
        while start < len(rows):
            size = self.batch_size
            while True:
                chunk = rows[start : start + size]
                context = _depended_on(would_log, _batches_of_rows(chunk))
                if len(context) + len(chunk) <= MAX_BATCH or size == 1:
                    break
                size = max(1, size // 2)
            self._check(chunk, journal, context[max(0, len(context) + len(chunk) - MAX_BATCH) :], would_log)
            self.progress(len(chunk))
            start += len(chunk)
        journal.close()
        self._summarise(summary, journal.results)
        return summary

    def _check(
        self,
        chunk: list[tuple[int, JSONObject | RowError]],
        journal: Journal,
        context: list[Document],
        would_log: list[tuple[Document, set[str]]],
    ) -> None:
        """One chunk through the validation, after the earlier rows it builds on."""
        signed = self._sign_chunk(chunk, journal)
        if not signed:
            return
        results = self.client.validate_batch([*context, *(envelope for _, envelope in signed)])[len(context) :]
        for (number, envelope), result in zip(signed, results, strict=True):
            if _is_refusal(result):
                self._forget(envelope)
                found = self._logged_by_effect(statements.statement_of(envelope), result)
                if found is not None:
                    result = cast(BatchResult, {"status": 200, "entry": found[1], "in_ledger": True})
                else:
                    result = self._refused(number, envelope, result, journal)
            elif result.get("status") == 201:
                would_log.append((envelope, _batches_of(statements.statement_of(envelope))))
            journal.results[number] = result

    def _place(
        self, rows: list[tuple[int, JSONObject | RowError]], journal: Journal, *, keep_refusals: bool
    ) -> list[tuple[int, JSONObject | RowError]]:
        """The rows to import, each placed in the journal by its content; a
        row the same as an earlier one is answered `duplicate_row` and left out."""
        first: dict[str, int] = {}
        kept: list[tuple[int, JSONObject | RowError]] = []
        for number, item in rows:
            if isinstance(item, RowError):
                kept.append((number, item))
                continue
            digest = row_digest(item, self.issuer)
            if digest in first:
                message = f"the same as row {first[digest]}: left out (a statement is logged once)"
                journal.results[number] = {"status": 409, "error": {"code": "duplicate_row", "message": message}}
                continue
            first[digest] = number
            self.row_batches[number] = _batches_of_rows([(number, item)])
            journal.place(number, digest, keep_refusal=keep_refusals)
            if digest in journal.kept:  # a later row on what it would have created names it
                for batch in _created_by_row(item):
                    self.refused_creators.setdefault(batch, number)
            kept.append((number, item))
        return kept

    def _summarise(self, summary: Summary, results: dict[int, BatchResult]) -> None:
        for result in results.values():
            summary.statuses[result.get("status")] += 1
            summary.in_ledger += bool(cast(Mapping[str, object], result).get("in_ledger"))
            if _is_refusal(result):
                summary.refusals[result["error"]["code"]] += 1
        self._write_report(results)

    def _replay(self, journal: Journal) -> None:
        """The heads the rows signed before left (refused rows left none)."""
        for number in sorted(journal.signed):
            result = journal.results.get(number)
            if result is None or not _is_refusal(result):
                self._advance(journal.signed[number])

    def _advance(self, envelope: Document, known: tuple[JSONObject, str] | None = None) -> None:
        """The heads `envelope` leaves (`known`: its statement and entry_hash, when just signed)."""
        statement, entry_hash = known or (statements.statement_of(envelope), statements.entry_hash(envelope))
        for _, batch in statements.named_batches(statement):
            self.heads[batch] = entry_hash
        for batch in statements.created_batches(statement):
            self.heads[batch] = entry_hash

    def _forget(self, envelope: Document) -> None:
        statement = statements.statement_of(envelope)
        for batch in [b for _, b in statements.named_batches(statement)] + statements.created_batches(statement):
            self.heads.pop(batch, None)

    def _head(self, batch: str) -> str:
        if batch in self.refused_creators and batch not in self.heads:
            cause = self.refused_creators[batch]
            raise RowError(f"batch {batch} does not exist: row {cause}, which creates it, was refused", caused_by=cause)
        if batch not in self.heads:
            self.heads[batch] = self.client.head(batch)
        return self.heads[batch]

    def _refused(self, number: int, envelope: Document, result: Refused, journal: Journal) -> Refused:
        """Remember the batches a refused row was to create; a refusal that an
        earlier refused row caused names that row."""
        statement = statements.statement_of(envelope)
        for batch in statements.created_batches(statement):
            self.refused_creators.setdefault(batch, number)
        causes = sorted(
            {
                self.refused_creators[batch]
                for _, batch in statements.named_batches(statement)
                if batch in self.refused_creators
            }
        )
        if not causes or result["error"]["code"] not in ("unknown_batch", "not_found", "stale_head"):
            return result
        rows = ", ".join(str(row) for row in causes)
        message = f"{result['error']['message']} (row {rows}, which creates the batch, was refused)"
        return _caused({**result, "error": {**result["error"], "message": message}}, causes, journal)

    def _envelope(self, number: int, item: JSONObject | RowError, journal: Journal) -> Document:
        """The row's envelope: the one signed before, or signed now (and journaled)."""
        if number in journal.signed:
            return journal.signed[number]
        if isinstance(item, RowError):
            raise item
        envelope: Document
        if statements.is_envelope(item):
            envelope = item
        else:
            if self.key is None:
                raise RowError("a statement needs a key to be signed (--key or CAIRN_KEY)")
            try:
                filled = self._filled(item)
            except CairnError as exc:
                raise RowError(f"cannot fill prev: {exc}") from exc
            except (KeyError, TypeError) as exc:
                raise RowError(f"not a statement: {exc}") from exc
            envelope, completed, entry_hash = self._signed(filled)
            self.just_signed[number] = (completed, entry_hash)
            self.fresh.add(number)
        journal.signed[number] = envelope
        journal.write({"row": number, "digest": journal.digests.get(number), "envelope": envelope})
        return envelope

    def _signed(self, statement: JSONObject) -> tuple[Document, JSONObject, str]:
        """The envelope, the completed statement it signs and its entry_hash."""
        if self.key is None:
            raise RowError("a statement needs a key to be signed (--key or CAIRN_KEY)")
        try:
            return statements.signed(statement, self.key, issuer=self._issuer_for(statement), cosigners=self.cosigners)
        except PayloadError as exc:
            raise RowError(f"invalid payload (not signed): {exc}") from exc

    def _filled(self, statement: JSONObject) -> JSONObject:
        """The statement with its missing `prev` fields: the heads the import
        left, else the server's; a batch the issuer may not read (a
        certifier's) with its custodian's consent, see `_consented_head`."""
        try:
            return statements.fill_prevs(statement, self._head)
        except CairnError as exc:
            missing = [b for h, b in statements.named_batches(statement) if not h.get("prev") and b not in self.heads]
            if exc.status != 404 or not self.cosigners or len(missing) != 1:
                raise
            self.heads[missing[0]] = self._consented_head(statement)
            return statements.fill_prevs(statement, self._head)

    def _consented_head(self, statement: JSONObject) -> str:
        """The head of the one batch the statement names that its issuer may
        not read (contract §5), as the ledger tells it to a statement its
        custodian co-signed: the statement signed on a head that cannot be
        (all zeros), validated (POST /attestations/validate, which stores
        nothing), is refused `stale_head` with the head. The co-signature is
        the custodian's consent; without it the ledger answers
        `unknown_batch` and tells nothing."""
        probe, _, _ = self._signed(statements.fill_prevs(statement, lambda batch: self.heads.get(batch, NO_HEAD)))
        (result,) = self.client.validate_batch([probe])
        error = result.get("error")
        if not isinstance(error, dict) or error.get("code") != "stale_head" or not isinstance(error.get("head"), str):
            reason = error.get("message") if isinstance(error, dict) else f"status {result.get('status')}"
            raise RowError(
                f"cannot fill prev: the issuer may not read the batch, and the co-signed statement got {reason}"
            )
        return str(error["head"])

    def _issuer_for(self, statement: Document) -> str | None:
        """--issuer, else for a statement naming none the token's organisation."""
        if self.issuer or statement.get("issuer"):
            return self.issuer
        try:
            return self.client.own_organization()
        except CairnError as exc:
            raise RowError(exc.message) from exc

    def _sign_chunk(
        self, chunk: list[tuple[int, JSONObject | RowError]], journal: Journal
    ) -> list[tuple[int, Document]]:
        """Each row's envelope (journaled), or its `invalid_row` answer."""
        signed: list[tuple[int, Document]] = []
        for number, item in chunk:
            try:
                envelope = self._envelope(number, item, journal)
            except RowError as exc:
                refusal: Refused = {"status": 400, "error": {"code": exc.code, "message": str(exc)}}
                if exc.caused_by is not None:
                    refusal = _caused(refusal, [exc.caused_by], journal)
                self._answer(journal, number, refusal)
                continue
            self._advance(envelope, self.just_signed.pop(number, None))
            signed.append((number, envelope))
        return signed

    def _post_all(self, todo: list[tuple[int, JSONObject | RowError]], journal: Journal) -> None:
        """Post `todo` chunk by chunk, up to `in_flight` chunks at once, each
        chunk signed while the ones before are being appended (the server's
        time and the signing's overlap, and the server appends several
        chunks side by side).

        Order is kept where it matters: a chunk naming a batch that a chunk
        in flight names or creates (a transfer of a lot whose origin is
        there, a transform of its output) is posted only once that chunk,
        and every one before it, is answered; chunks on other batches
        overlap. Answers are taken in the order the chunks were posted.
        Rows of a chunk signed on batches that an answer changed (a refused
        row's, one found in the ledger) are signed again before it is
        posted, so every row is signed on what the earlier rows left, as if
        each chunk waited for the one before."""
        flights: deque[Flight] = deque()
        with ThreadPoolExecutor(max_workers=self.in_flight) as pool:
            try:
                for start in range(0, len(todo), self.batch_size):
                    chunk = todo[start : start + self.batch_size]
                    self.changed.clear()  # from here: what answers change under this chunk's signatures
                    posted = self._sign_chunk(chunk, journal)
                    names = self._batches_of_chunk(chunk)
                    waits = max((at + 1 for at, flight in enumerate(flights) if flight.touched & names), default=0)
                    while flights and (waits > 0 or len(flights) >= self.in_flight or flights[0].done()):
                        self._land(flights.popleft(), journal)
                        waits -= 1
                    posted = self._signed_again(chunk, posted, journal)
                    journal.sync()  # every envelope is on disk before it is posted
                    future = (
                        pool.submit(self.client.post_batch, [envelope for _, envelope in posted]) if posted else None
                    )
                    touched = self._batches_of_chunk(posted)
                    flights.append(Flight(future, chunk, posted, frozenset(touched)))
                while flights:
                    self._land(flights.popleft(), journal)
            except BaseException:
                self.client.stop_waiting.set()  # no chunk in flight waits out a 429 now
                self._drain(flights, journal)
                raise

    def _batches_of_chunk(self, rows: Sequence[tuple[int, object]]) -> set[str]:
        """The batches the rows name or create."""
        found: set[str] = set()
        for number, _ in rows:
            found |= self.row_batches.get(number, set())
        return found

    def _land(self, flight: Flight, journal: Journal, *, post_again: bool = True) -> None:
        """The answers to a chunk posted, recorded; its rows to sign again posted
        now (unless stopping: the next run signs and posts them)."""
        if flight.future is not None:
            redo = self._take(dict(flight.chunk), flight.posted, flight.future.result(), journal)
            journal.sync()
            if redo and post_again:
                self._post(redo, journal)
        self.progress(len(flight.chunk))

    def _drain(self, flights: deque[Flight], journal: Journal) -> None:
        """After a failure (a lost answer, Ctrl-C): the chunks still in flight,
        each posted beside the one that failed and so on other batches,
        waited for and their answers recorded; one without an answer is
        posted again by the next run, with the envelopes signed before. Nothing
        new is posted: rows to sign again wait for the next run too."""
        while flights:
            flight = flights.popleft()
            try:
                self._land(flight, journal, post_again=False)
            except Exception:  # the first failure is the one raised
                continue

    def _signed_again(
        self, chunk: list[tuple[int, JSONObject | RowError]], posted: list[tuple[int, Document]], journal: Journal
    ) -> list[tuple[int, Document]]:
        """`posted` with the rows signed in this run on a batch the last answer
        changed (and the rows after them on theirs) signed again."""
        if not self.changed:
            return posted
        changed, items, kept = set(self.changed), dict(chunk), []
        for number, envelope in posted:
            touched = _batches_of(statements.statement_of(envelope))
            if number not in self.fresh or not touched & changed:
                kept.append((number, envelope))
                continue
            changed |= touched
            journal.signed.pop(number, None)
            kept += self._sign_chunk([(number, items[number])], journal)
        return kept

    def _post(self, chunk: list[tuple[int, JSONObject | RowError]], journal: Journal) -> None:
        posted = self._sign_chunk(chunk, journal)
        journal.sync()  # every envelope is on disk before it is posted
        redo: list[tuple[int, JSONObject | RowError]] = []
        if posted:
            results = self.client.post_batch([envelope for _, envelope in posted])
            redo = self._take(dict(chunk), posted, results, journal)
        journal.sync()
        if redo:
            self._post(redo, journal)

    def _take(
        self,
        items: dict[int, JSONObject | RowError],
        posted: list[tuple[int, Document]],
        results: list[BatchResult],
        journal: Journal,
    ) -> list[tuple[int, JSONObject | RowError]]:
        """Record each posted row's result. A row refused because the ledger
        already holds it (a batch it creates exists with its content: a
        rerun without the journal, or of a copy of the file) is answered 200
        with that entry, its envelope journaled as the row's; the rows after
        it in the chunk refused on its batches were signed on a head the
        ledger never had: they are returned, to be signed again."""
        recognised: set[str] = set()
        redo: list[tuple[int, JSONObject | RowError]] = []
        for (number, envelope), result in zip(posted, results, strict=True):
            if not _is_refusal(result):
                self._answer(journal, number, result)
                continue
            self._forget(envelope)
            statement = statements.statement_of(envelope)
            self.changed |= _batches_of(statement)
            found = self._logged_by_effect(statement, result)
            if found is not None:
                journal.signed[number] = found[0]
                journal.write({"row": number, "digest": journal.digests.get(number), "envelope": found[0]})
                self._answer(journal, number, cast(BatchResult, {"status": 200, "entry": found[1], "in_ledger": True}))
                recognised |= _batches_of(statement)
            elif recognised & _batches_of(statement) and result["error"]["code"] in BUILT_ON_A_STALE_HEAD:
                journal.signed.pop(number, None)
                redo.append((number, items[number]))
            else:
                self._answer(journal, number, self._refused(number, envelope, result, journal))
        return redo

    def _logged_by_effect(self, statement: JSONObject, result: Refused) -> tuple[Document, wire.EntryReceipt] | None:
        """The entry already in the ledger with this statement's content
        (all but `issued_at` and `prev`), when the refusal says there may be one."""
        if result["error"]["code"] not in LOGGED_BY_EFFECT:
            return None
        created = statements.created_batches(statement)
        batch = created[0] if created else statement.get("batch")
        if not isinstance(batch, str):
            return None
        try:
            logged = self.client.batch(batch)
            for item in logged["entries"]:
                if item["type"] != statement.get("type"):
                    continue
                entry = self.client.entry(item["index"])
                if _content(statements.statement_of(entry["envelope"])) == _content(statement):
                    receipt: wire.EntryReceipt = {
                        "index": entry["index"],
                        "entry_hash": entry["entry_hash"],
                        "integrated_time": entry["integrated_time"],
                        "leaf_hash": entry["leaf_hash"],
                    }
                    return entry["envelope"], receipt
        except CairnError:
            return None
        return None

    @staticmethod
    def _answer(journal: Journal, number: int, result: BatchResult) -> None:
        """Record the row's result (a row that is not a statement is read again each run: not journaled)."""
        journal.results[number] = result
        if number in journal.digests:
            journal.write({"row": number, "digest": journal.digests[number], "result": result})

    def _write_report(self, results: dict[int, BatchResult]) -> None:
        refusals = [(number, result) for number, result in sorted(results.items()) if _is_refusal(result)]
        if not refusals:
            self.report_path.unlink(missing_ok=True)
            return
        with self.report_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(REPORT_COLUMNS)
            for number, result in refusals:
                error = result["error"]
                batches = ";".join(sorted(self.row_batches.get(number, ())))
                causes = ";".join(str(row) for row in cast(Mapping[str, list[int]], result).get("caused_by", []))
                writer.writerow(
                    [number, result["status"], error["code"], error["message"], error.get("head", ""), batches, causes]
                )
