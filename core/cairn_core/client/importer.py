"""`cairn import`: bulk history from JSON Lines or CSV, through the batch endpoint.

Rows are signed and posted in batches (POST /attestations/batch, up to 1000
envelopes a request). Missing `prev` fields are filled with the head the
import itself left (a row may build on an earlier row's batch) or else the
server's current head.

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
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypedDict, TypeGuard

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cairn_core.client import statements
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
REPORT_COLUMNS = ("row", "status", "code", "message", "head")


class ImportFailure(Exception):
    """The import cannot start or go on (a changed file, an unreadable journal)."""


class RowError(ValueError):
    """A row that is not a statement."""

    code = "invalid_row"


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
    """Append-only JSON Lines: a header, then `{"row", "envelope"}` when a row
    is signed and `{"row", "result"}` when it is answered."""

    def __init__(self, path: Path, source: Path, sha256: str, *, read_only: bool = False) -> None:
        self.path = path
        self.signed: dict[int, Document] = {}  # envelopes
        self.results: dict[int, BatchResult] = {}
        self.handle: io.TextIOBase | None = None
        if path.exists():
            self._load(source, sha256)
            if not read_only:
                self.handle = path.open("a", encoding="utf-8")
        elif not read_only:
            self.handle = path.open("w", encoding="utf-8")
            self.write({"source": source.name, "sha256": sha256})
            self.sync()

    def _load(self, source: Path, sha256: str) -> None:
        try:
            lines = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except ValueError:
            # a line cut short by a crash is the last one: drop it
            text = self.path.read_text(encoding="utf-8")
            good = text[: text.rstrip("\n").rfind("\n") + 1]
            self.path.write_text(good, encoding="utf-8")
            lines = [json.loads(line) for line in good.splitlines() if line.strip()]
        if not lines or lines[0].get("sha256") != sha256:
            raise ImportFailure(
                f"{self.path} records another version of {source.name}; "
                "remove the journal to start again, or restore the file it was made from"
            )
        for record in lines[1:]:
            if "envelope" in record:
                self.signed[record["row"]] = record["envelope"]
            elif "result" in record:
                self.results[record["row"]] = record["result"]

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


# --- the import ----------------------------------------------------------------------


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
    refused: int
    refusals: dict[str, int]  # contract code: rows refused with it
    report: str | None
    journal: str | None


@dataclass
class Summary:
    rows: int = 0
    done_before: int = 0
    statuses: Counter[int | None] = field(default_factory=Counter)  # None: a journal's result without one
    refusals: Counter[str] = field(default_factory=Counter)
    report: Path | None = None
    journal: Path | None = None

    def as_dict(self) -> SummaryDict:
        return {
            "rows": self.rows,
            "done_before": self.done_before,
            "created": self.statuses.get(201, 0),
            "already_logged": self.statuses.get(200, 0),
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
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ImportFailure(f"a batch holds 1 to {MAX_BATCH} rows")
        if epcis and not issuer:
            raise ImportFailure("an EPCIS import signs as one organisation: give --issuer (or CAIRN_ISSUER)")
        self.epcis = epcis
        self.client, self.key, self.issuer = client, key, issuer
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
            self._replay(journal)
            todo = [(number, item) for number, item in rows if not _settled(journal.results.get(number))]
            summary.done_before = len(rows) - len(todo)
            self.progress(summary.done_before)
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start : start + self.batch_size]
                self._post(chunk, journal)
                self.progress(len(chunk))
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
        self._replay(journal)
        for number in [n for n, result in journal.results.items() if _is_refusal(result)]:
            del journal.results[number]  # a row refused before is signed again, as it would be to retry it
            journal.signed.pop(number, None)
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
                result = self._refused(number, envelope, result)
            elif result.get("status") == 201:
                would_log.append((envelope, _batches_of(statements.statement_of(envelope))))
            journal.results[number] = result

    def _summarise(self, summary: Summary, results: dict[int, BatchResult]) -> None:
        for result in results.values():
            summary.statuses[result.get("status")] += 1
            if _is_refusal(result):
                summary.refusals[result["error"]["code"]] += 1
        self._write_report(results)

    def _replay(self, journal: Journal) -> None:
        """The heads the rows signed before left (refused rows left none)."""
        for number in sorted(journal.signed):
            result = journal.results.get(number)
            if result is None or not _is_refusal(result):
                self._advance(journal.signed[number])

    def _advance(self, envelope: Document) -> None:
        statement = statements.statement_of(envelope)
        entry_hash = statements.entry_hash(envelope)
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
            raise RowError(
                f"batch {batch} does not exist: row {self.refused_creators[batch]}, which creates it, was refused"
            )
        if batch not in self.heads:
            self.heads[batch] = self.client.head(batch)
        return self.heads[batch]

    def _refused(self, number: int, envelope: Document, result: Refused) -> Refused:
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
        return {**result, "error": {**result["error"], "message": message}}

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
                filled = statements.fill_prevs(item, self._head)
            except CairnError as exc:
                raise RowError(f"cannot fill prev: {exc}") from exc
            except (KeyError, TypeError) as exc:
                raise RowError(f"not a statement: {exc}") from exc
            try:
                envelope = statements.sign(filled, self.key, issuer=self.issuer)
            except PayloadError as exc:
                raise RowError(f"invalid payload (not signed): {exc}") from exc
        journal.signed[number] = envelope
        journal.write({"row": number, "envelope": envelope})
        return envelope

    def _sign_chunk(
        self, chunk: list[tuple[int, JSONObject | RowError]], journal: Journal
    ) -> list[tuple[int, Document]]:
        """Each row's envelope (journaled), or its `invalid_row` answer."""
        signed: list[tuple[int, Document]] = []
        for number, item in chunk:
            try:
                envelope = self._envelope(number, item, journal)
            except RowError as exc:
                self._answer(journal, number, {"status": 400, "error": {"code": exc.code, "message": str(exc)}})
                continue
            self._advance(envelope)
            signed.append((number, envelope))
        return signed

    def _post(self, chunk: list[tuple[int, JSONObject | RowError]], journal: Journal) -> None:
        posted = self._sign_chunk(chunk, journal)
        journal.sync()  # every envelope is on disk before it is posted
        if posted:
            results = self.client.post_batch([envelope for _, envelope in posted])
            for (number, envelope), result in zip(posted, results, strict=True):
                if _is_refusal(result):
                    self._forget(envelope)
                    result = self._refused(number, envelope, result)
                self._answer(journal, number, result)
        journal.sync()

    @staticmethod
    def _answer(journal: Journal, number: int, result: BatchResult) -> None:
        journal.results[number] = result
        journal.write({"row": number, "result": result})

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
                writer.writerow([number, result["status"], error["code"], error["message"], error.get("head", "")])
