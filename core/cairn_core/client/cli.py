"""`cairn`: sign, post, bulk-load and prove attestations from the command line.

Every command takes its settings from flags, the environment or a config
file (see cairn_core.client.config), prints what a person reads or, with
--json, one JSON document per result, and exits 1 on any refusal, naming
the server's error code and message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal, NoReturn, overload

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import cairn_core
from cairn_core import dsse, signed_note
from cairn_core.client import config as settings_of
from cairn_core.client import keys as keyfiles
from cairn_core.client import statements
from cairn_core.client import verdicts as monitor
from cairn_core.client.api import CairnError, Client
from cairn_core.client.importer import IN_FLIGHT, MAX_IN_FLIGHT, Importer, ImportFailure, Summary, SummaryDict
from cairn_core.client.kept import KeptEnvelopes
from cairn_core.client.wire import BatchResult, Proven
from cairn_core.client.witness import Witness, WitnessError, default_state_path
from cairn_core.untrusted import printable


class Context:
    def __init__(self, flags: dict[str, str | None], config_path: str | None, as_json: bool) -> None:
        self.flags, self.config_path, self.as_json = flags, config_path, as_json
        self._settings: settings_of.Settings | None = None

    @property
    def settings(self) -> settings_of.Settings:
        if self._settings is None:
            self._settings = settings_of.resolve(self.flags, self.config_path)
        return self._settings

    def client(self, *, retry_rate_limited: int = 0) -> Client:
        return Client(self.settings.url, self.settings.token, retry_rate_limited=retry_rate_limited)

    @overload
    def key(self, required: Literal[True] = True) -> Ed25519PrivateKey: ...
    @overload
    def key(self, required: bool) -> Ed25519PrivateKey | None: ...
    def key(self, required: bool = True) -> Ed25519PrivateKey | None:
        path = self.settings.key
        if not path:
            if required:
                raise click.UsageError("give the signing key: --key PATH, CAIRN_KEY or key in the config file")
            return None
        return keyfiles.load(path)

    def emit(self, data: object, text: str) -> None:
        """JSON for scripts, else the text with anything unprintable escaped
        line by line: strings from the ledger or a server (a batch's
        material, a refusal's message) cannot drive the terminal."""
        click.echo(json.dumps(data, sort_keys=True) if self.as_json else "\n".join(map(printable, text.split("\n"))))


pass_context = click.make_pass_decorator(Context)


class Command(click.Group):
    """Turns every expected failure into `error: …` and exit status 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CairnError as exc:
            _fail(ctx, str(exc), {"error": exc.as_dict()})
        except (WitnessError, keyfiles.KeyFileError, settings_of.ConfigError, ImportFailure) as exc:
            _fail(ctx, str(exc), {"error": {"code": _code_of(exc), "message": str(exc)}})


def _code_of(exc: Exception) -> str:
    from cairn_core.client.witness import ForkDetected, NotCovered

    if isinstance(exc, ForkDetected):
        return "log_forked"
    if isinstance(exc, NotCovered):
        return "not_covered"
    return "witness" if isinstance(exc, WitnessError) else "client"


def _fail(ctx: click.Context, message: str, document: Mapping[str, object]) -> NoReturn:
    obj = ctx.find_object(Context)
    if obj is not None and obj.as_json:
        click.echo(json.dumps(document, sort_keys=True))
    click.echo(f"error: {printable(message)}", err=True)
    ctx.exit(1)


@click.group(cls=Command)
@click.option("--url", help="Cairn's address (CAIRN_URL).")
@click.option("--token", help="Your organisation's API token (CAIRN_TOKEN).")
@click.option("--key", "key", help="Your signing key, PKCS#8 PEM (CAIRN_KEY).")
@click.option("--issuer", help="Your organisation's slug, for statements without issuer (CAIRN_ISSUER).")
@click.option("--state", help="The witness state file of `cairn prove` (CAIRN_STATE).")
@click.option("--config", "config_path", help="A TOML config file (CAIRN_CONFIG; default ~/.config/cairn/config.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.version_option(version=cairn_core.__version__, prog_name="cairn")
@click.pass_context
def main(
    ctx: click.Context,
    url: str | None,
    token: str | None,
    key: str | None,
    issuer: str | None,
    state: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Sign, post, bulk-load and prove Cairn attestations."""
    flags = {"url": url, "token": token, "key": key, "issuer": issuer, "state": state}
    ctx.obj = Context(flags, config_path, as_json)


# --- keys ----------------------------------------------------------------------------


@main.command()
@click.argument("path", required=False)
@click.option("--force", is_flag=True, help="Replace an existing file.")
@pass_context
def keygen(obj: Context, path: str | None, force: bool) -> None:
    """Create an Ed25519 signing key (PKCS#8 PEM, mode 0600) at PATH (default: the configured key)."""
    target = path or obj.settings.key
    if not target:
        raise click.UsageError("give PATH (or --key / CAIRN_KEY)")
    key = keyfiles.generate()
    written = keyfiles.write(target, key, overwrite=force)
    data = {"path": str(written), "keyid": keyfiles.keyid(key), "public_key": keyfiles.public_key_b64(key)}
    obj.emit(data, f"wrote {written} (mode 0600)\nkeyid {data['keyid']}\npublic key {data['public_key']}")


@main.group()
def key() -> None:
    """Register or revoke your signing key."""


@key.command("register")
@pass_context
def key_register(obj: Context) -> None:
    """Register the signing key's public key for your organisation."""
    with obj.client() as client:
        body = client.register_key(obj.key())
    obj.emit(body, f"key {body['keyid']} of {body['organization']}, registered {body['registered_at']}")


@key.command("revoke")
@click.argument("keyid", required=False)
@pass_context
def key_revoke(obj: Context, keyid: str | None) -> None:
    """Revoke KEYID (default: the signing key's). Entries logged before stay valid."""
    keyid = keyid or keyfiles.keyid(obj.key())
    with obj.client() as client:
        body = client.revoke_key(keyid)
    obj.emit(body, f"key {body['keyid']} revoked at {body['revoked_at']}")


@key.command("list")
@pass_context
def key_list(obj: Context) -> None:
    """Your organisation's keys, revoked ones included (an auditor: every organisation's)."""
    with obj.client() as client:
        body = client.keys()
    lines = [
        " ".join(
            part
            for part in (
                key.get("organization", ""),
                key["keyid"],
                f"registered {key['registered_at']}",
                f"revoked {key['revoked_at']}" if key["revoked_at"] else "valid",
            )
            if part
        )
        for key in body["keys"]
    ]
    obj.emit(body, "\n".join(lines) or "no keys")


# --- statements ----------------------------------------------------------------------


def _read_json(path: str) -> object:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise click.FileError(path, exc.strerror) from exc
    except ValueError as exc:
        raise click.BadParameter(f"{path} is not JSON: {exc}") from exc


@main.command()
@click.argument("statement_file")
@click.option("--fill-prev", is_flag=True, help="Fill missing prev fields with the batches' current heads.")
@click.option("--cosign", multiple=True, help="Another signing key (PEM) to sign with, e.g. a transfer's receiver.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the envelope there (default: stdout).")
@pass_context
def sign(obj: Context, statement_file: str, fill_prev: bool, cosign: tuple[str, ...], output: str | None) -> None:
    """Sign STATEMENT_FILE (a statement as JSON, - for stdin) into a DSSE envelope.

    Fills issued_at with now when absent, the issuer with --issuer, and with
    --fill-prev every missing prev with the server's current head."""
    statement = _read_json(statement_file)
    if not isinstance(statement, dict):
        raise click.BadParameter("a statement is a JSON object")
    key = obj.key()
    cosigners = [keyfiles.load(path) for path in cosign]
    with obj.client() as client:
        envelope = client.sign(statement, key, fill_prev=fill_prev, issuer=obj.settings.issuer, cosigners=cosigners)
    text = json.dumps(envelope)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output} (entry_hash {statements.entry_hash(envelope)})", err=True)
    else:
        click.echo(text)


@main.command()
@click.argument("envelope_file")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the envelope there (default: stdout).")
@pass_context
def cosign(obj: Context, envelope_file: str, output: str | None) -> None:
    """Add the signing key's signature to ENVELOPE_FILE (- for stdin), signed elsewhere.

    A transfer's receiver co-signs the sender's envelope this way; the
    statement and its entry_hash are unchanged. Shows what it signs first."""
    try:
        envelope = statements.cosign(_read_json(envelope_file), obj.key())
    except dsse.EnvelopeError as exc:
        raise click.BadParameter(f"{envelope_file}: {exc}") from exc
    statement = statements.statement_of(envelope)
    click.echo(
        f"co-signed {statement.get('type')} by {statement.get('issuer')} "
        f"(entry_hash {statements.entry_hash(envelope)})",
        err=True,
    )
    text = json.dumps(envelope)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


def _items(files: tuple[str, ...]) -> Iterator[tuple[str, object]]:
    """(where, document) for each file (one JSON document, or JSON Lines), or stdin's lines."""
    if not files or files == ("-",):
        for number, line in enumerate(sys.stdin, start=1):
            if line.strip():
                yield f"stdin:{number}", _parse_line(line, f"stdin:{number}")
        return
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.FileError(path, exc.strerror) from exc
        try:
            yield path, json.loads(text)
        except ValueError:
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    yield f"{path}:{number}", _parse_line(line, f"{path}:{number}")


def _parse_line(line: str, where: str) -> object:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise click.BadParameter(f"{where} is not JSON: {exc}") from exc


def _describe_result(where: str, result: BatchResult) -> str:
    if "entry" in result:
        entry = result["entry"]
        verb = "logged" if result["status"] == 201 else "already logged"
        return f"{where}: {result['status']} {verb} at index {entry['index']} (entry_hash {entry['entry_hash']})"
    if "entry_hash" in result:
        return f"{where}: {result['status']} would be logged (entry_hash {result['entry_hash']})"
    error = dict(result["error"])
    code, message = error.pop("code"), error.pop("message")
    extra = "".join(f" ({name}: {value})" for name, value in error.items())
    return f"{where}: refused {result['status']} {code}: {message}{extra}"


@main.command()
@click.argument("files", nargs=-1)
@click.option("--fill-prev", is_flag=True, help="Fill missing prev fields of statements with the current heads.")
@pass_context
def post(obj: Context, files: tuple[str, ...], fill_prev: bool) -> None:
    """Post envelopes or statements (signed here): FILES, or JSON Lines on stdin.

    Each is posted alone (POST /attestations) and its receipt or refusal
    printed; exits 1 when any was refused."""
    refused = 0
    kept = KeptEnvelopes(Path(obj.settings.state or default_state_path()).parent / "signed")
    with obj.client() as client:
        for where, item in _items(files):
            if not isinstance(item, dict):  # an envelope always is one
                raise click.BadParameter(f"{where} is neither a statement nor an envelope")
            result = _post_one(obj, client, kept, item, fill_prev)
            refused += "error" in result
            obj.emit({"source": where, **result}, _describe_result(where, result))
    if refused:
        click.get_current_context().exit(1)


def _post_one(
    obj: Context, client: Client, kept: KeptEnvelopes, item: dict[str, object], fill_prev: bool
) -> BatchResult:
    """Post an envelope, or a statement as the envelope signed for it before
    (kept until answered), else signed now and kept first."""
    digest = None
    try:
        if statements.is_envelope(item):
            envelope: Mapping[str, object] = item
        else:
            key = obj.key()
            digest = kept.digest(item, issuer=obj.settings.issuer, keyid=keyfiles.keyid(key), fill_prev=fill_prev)
            envelope = kept.get(digest) or client.sign(item, key, fill_prev=fill_prev, issuer=obj.settings.issuer)
            kept.keep(digest, envelope)
        status, receipt = client.submit(envelope)
        return {"status": status, "entry": receipt}
    except CairnError as exc:
        if exc.status in (0, 401, 429) or exc.status >= 500:
            raise  # not this statement's fault: stop, and keep what was signed for the next try
        if digest is not None:
            kept.forget(digest)
        return {"status": exc.status, "error": exc.error}


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--batch-size", type=click.IntRange(1, 1000), default=1000, show_default=True)
@click.option(
    "--in-flight",
    type=click.IntRange(1, MAX_IN_FLIGHT),
    default=IN_FLIGHT,
    show_default=True,
    help="Chunks posted at once; a chunk building on a chunk in flight waits for its answer",
)
@click.option("--journal", type=click.Path(dir_okay=False), help="Default: FILE.cairn-journal.jsonl")
@click.option("--report", type=click.Path(dir_okay=False), help="Default: FILE.refusals.csv")
@click.option(
    "--epcis", is_flag=True, help="FILE is an EPCIS 2.0 JSON-LD document: its events, as --issuer's statements"
)
@click.option(
    "--cosign",
    multiple=True,
    metavar="PEM",
    help="Another key to sign every statement with: a certification's custodian, whose consent it needs",
)
@click.option(
    "--validate",
    is_flag=True,
    help="Check every row against the ledger (POST /attestations/validate): nothing is appended, the journal "
    "is left as it was; refusals to FILE.validation.csv",
)
@click.option(
    "--retry-refused",
    is_flag=True,
    help="Sign again and post the rows refused before whose content is unchanged (a row changed since, or "
    "refused because of an earlier row, always is)",
)
@pass_context
def import_(
    obj: Context,
    file: str,
    batch_size: int,
    in_flight: int,
    journal: str | None,
    report: str | None,
    epcis: bool,
    cosign: tuple[str, ...],
    validate: bool,
    retry_refused: bool,
) -> None:
    """Sign and post a history file (JSON Lines, CSV or EPCIS 2.0) through the batch endpoint.

    Resumes after an interruption: run it again. Every refusal goes to the
    report with its code (an EPCIS event that maps to no statement of the
    issuer's: not_mapped); exits 1 when any row was refused. With
    --validate, every row is checked and none appended. A certifier
    imports its certifications with --cosign and the custodian's key: the
    prev of a batch it may not read is then the head the ledger names to the
    co-signed statement."""
    source = Path(file)
    if validate and report is None:
        report = str(source.with_name(source.name + ".validation.csv"))
    with obj.client(retry_rate_limited=RATE_LIMITED_RETRIES) as client:
        client.on_rate_limited = _say_rate_limited
        importer = Importer(
            client,
            obj.key(required=False),
            file,
            issuer=obj.settings.issuer,
            journal=journal,
            report=report,
            batch_size=batch_size,
            in_flight=in_flight,
            epcis=epcis,
            cosigners=[keyfiles.load(path) for path in cosign],
            retry_refused=retry_refused,
        )
        summary = _run_import(importer, validate)
    _print_summary(obj, summary, importer.report_path, validate)


# A 429 is waited out (its Retry-After) this many times in a row before the import stops.
RATE_LIMITED_RETRIES = 100


def _say_rate_limited(seconds: float) -> None:
    click.echo(f"\nrate-limited, waiting {seconds:.0f} s", err=True)


def _run_import(importer: Importer, validate: bool) -> Summary:
    """The import (or its validation), with a progress bar; Ctrl-C says what to do next."""
    rows = importer.rows()
    label = "validating" if validate else "importing"
    with click.progressbar(length=len(rows), label=label, file=sys.stderr) as bar:
        importer.progress = bar.update
        try:
            return importer.validate(rows) if validate else importer.run(rows)
        except KeyboardInterrupt:
            again = (
                "nothing was appended"
                if validate
                else f"run the same command again to resume ({importer.journal_path})"
            )
            click.echo(f"\ninterrupted: {again}", err=True)
            raise click.exceptions.Exit(130) from None


def _print_summary(obj: Context, summary: Summary, report: Path, validate: bool) -> None:
    """The import's (or validation's) counts and refusals; exit 1 when any row was refused."""
    data = summary.as_dict()
    obj.emit(data, "\n".join(_summary_lines(data, report, validate)))
    if data["refused"]:
        click.get_current_context().exit(1)


def _summary_lines(data: SummaryDict, report: Path, validate: bool) -> list[str]:
    logged = "would be logged" if validate else "logged"
    lines = [
        f"{data['rows']} rows: {data['created']} {logged}, {data['already_logged']} already logged"
        + (f" ({data['in_ledger']} found in the ledger by their content)" if data["in_ledger"] else "")
        + f", {data['refused']} refused"
        + (f" ({data['done_before']} done by an earlier run)" if data["done_before"] else "")
        + ("; nothing was appended" if validate else "")
    ]
    if data["refused"]:
        lines += [f"  {code}: {count}" for code, count in data["refusals"].items()]
        lines += _refusal_lines(report)
        lines.append(f"refusals written to {report}")
    return lines


def _refusal_lines(report: Path, limit: int = 50) -> list[str]:
    import csv

    with report.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    lines = [f"  row {r['row']}: {r['status']} {r['code']}: {r['message']}" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"  … and {len(rows) - limit} more in the report")
    return lines


# --- reads ----------------------------------------------------------------------------


@main.command()
@click.argument("batch_id")
@pass_context
def batch(obj: Context, batch_id: str) -> None:
    """A batch: quantity, custodian, head and the entries that touched it."""
    with obj.client() as client:
        body = client.batch(batch_id)
    lines = [
        f"batch {body['id']}: {body['material']}, {body['quantity']} {body['unit']} ({body['remaining']} remaining)",
        f"custodian {body['custodian']}",
        f"head {body['head']}",
        *(f"  #{e['index']} {e['type']} {e['entry_hash']}" for e in body["entries"]),
    ]
    obj.emit(body, "\n".join(lines))


@main.command()
@click.argument("batch_id")
@pass_context
def provenance(obj: Context, batch_id: str) -> None:
    """A batch's upstream DAG, back to its origins."""
    with obj.client() as client:
        body = client.provenance(batch_id)
    lines = [f"{len(body['nodes'])} batches upstream of {batch_id}:"]
    lines += [
        f"  {n['id']}: {n['material']}, {n['quantity']} {n['unit']} ({n.get('country') or '?'})" for n in body["nodes"]
    ]
    lines += [f"  {e['from']} -> {e['to']} at #{e['index']} ({e['quantity']})" for e in body["edges"]]
    for origin in body["origins"]:
        minerals = ", ".join(f"{name} {kg} kg" for name, kg in sorted(origin["minerals"].items()))
        lines.append(f"origin {origin['batch']} ({origin['country']}): {minerals}")
    obj.emit(body, "\n".join(lines))


@main.command()
@click.option(
    "--after", type=click.IntRange(min=-1), default=-1, show_default=True, help="List entries after this index."
)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="At most this many.")
@click.option("--all", "every", is_flag=True, help="Every page, not only the first.")
@pass_context
def entries(obj: Context, after: int, limit: int, every: bool) -> None:
    """The log entries that name your organisation (an auditor: all), in index order."""
    with obj.client() as client:
        if every:
            found, following = list(client.all_entries(after=after)), None
        else:
            page = client.entries(after=after, limit=limit)
            found, following = page["entries"], page["next"]
    lines = []
    for item in found:
        statement = statements.statement_of(item["envelope"])
        lines.append(f"#{item['index']} {statement.get('type')} by {statement.get('issuer')} {item['entry_hash']}")
    if following is not None:
        lines.append(f"more: cairn entries --after {following}")
    obj.emit({"entries": found, "next": following}, "\n".join(lines) or "no entries")


@main.command()
@click.option("--custodian", help="An organisation's slug (default: yours; others' need the auditor role).")
@click.option("--after", default="", help="List batches with ids after this one.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True, help="At most this many.")
@click.option("--all", "every", is_flag=True, help="Every page, not only the first.")
@pass_context
def batches(obj: Context, custodian: str | None, after: str, limit: int, every: bool) -> None:
    """The batches in your custody (or `--custodian`'s), in id order."""
    with obj.client() as client:
        if every:
            found, following = list(client.all_batches(custodian=custodian)), None
        else:
            page = client.batches(custodian=custodian, after=after, limit=limit)
            found, following = page["batches"], page["next"]
    lines = [
        f"{b['id']}: {b['material']}, {b['remaining']} of {b['quantity']} {b['unit']}, head {b['head']}" for b in found
    ]
    if following is not None:
        lines.append(f"more: cairn batches --after {following}")
    obj.emit({"batches": found, "next": following}, "\n".join(lines) or "no batches")


@main.command()
@click.argument("index", type=click.IntRange(min=0))
@pass_context
def entry(obj: Context, index: int) -> None:
    """A log entry: its envelope, decoded statement and co-signers."""
    with obj.client() as client:
        body = client.entry(index)
    statement = statements.statement_of(body["envelope"])
    lines = [
        f"entry {body['index']}: {statement.get('type')} by {statement.get('issuer')}",
        f"entry_hash {body['entry_hash']}",
        f"integrated_time {body['integrated_time']}",
        f"cosigners {', '.join(body['cosigners']) or 'none'}",
        json.dumps(statement, indent=2, sort_keys=True),
    ]
    obj.emit({**body, "statement": statement}, "\n".join(lines))


@main.command()
@click.option("--vin", help="Only this vehicle's verdicts.")
@click.option("--log-key", help="The log's verifier string (default: GET /log/key's, as served).")
@pass_context
def verdicts(obj: Context, vin: str | None, log_key: str | None) -> None:
    """Every verdict in the log, by VIN, read and checked here (an auditor's token).

    Exits 1 when two intact verdicts on one VIN disagree with no rules entry
    logged between them, or a ledger entry does not verify."""
    with obj.client() as client:
        try:
            verifier = signed_note.parse_verifier(log_key or client.log_key()["verifier"])
            found = monitor.report(monitor.read(client, verifier), vin)
        except (monitor.LogUnreadable, signed_note.NoteError) as exc:
            raise WitnessError(str(exc)) from exc
    rows = found["verdicts"]
    lines = [f"{len(rows)} verdict(s) in the log of {found['tree_size']} entries"]
    lines += [
        f"  {row['vin']}  pack {row['pack']}  verification {row['verification']} (entry #{row['index']})  "
        f"${row['credit_usd']} {row['integrity']}  {row['at']}"
        for row in rows
    ]
    lines += [f"DISAGREE: {message}" for message in found["disagreements"]]
    lines += [f"PROBLEM: {message}" for message in found["problems"]]
    obj.emit(found, "\n".join(lines))
    if found["disagreements"] or found["problems"]:
        raise click.exceptions.Exit(1)


def _expected_entry_hash(entry_hash: str | None, envelope: str | None) -> str | None:
    """The entry_hash `prove` binds to: given, or computed from the envelope posted."""
    entry_hash = entry_hash.lower() if entry_hash is not None else None
    if entry_hash is not None and not (len(entry_hash) == 64 and set(entry_hash) <= set("0123456789abcdef")):
        raise click.BadParameter("an entry_hash is 64 lowercase hex digits", param_hint="--entry-hash")
    if envelope is None:
        return entry_hash
    try:
        computed = statements.entry_hash(_read_json(envelope))
    except ValueError as exc:
        raise click.BadParameter(f"{envelope} is not a DSSE envelope: {exc}", param_hint="--envelope") from exc
    if entry_hash is not None and entry_hash != computed:
        raise click.BadParameter(
            f"the envelope's entry_hash is {computed}, not {entry_hash}", param_hint="--entry-hash"
        )
    return computed


def _prove_failed(obj: Context, exc: WitnessError) -> NoReturn:
    """`error: …` (and the JSON error with --json), and the error's own exit status."""
    error: dict[str, object] = {"code": exc.code, "message": str(exc)}
    evidence = getattr(exc, "evidence", None)
    if evidence is not None:
        error["evidence"] = str(evidence)
    if obj.as_json:
        click.echo(json.dumps({"error": error}, sort_keys=True))
    click.echo(f"error: {printable(str(exc))}", err=True)
    raise click.exceptions.Exit(exc.exit_status)


def _proven_lines(result: Proven, state: Path) -> list[str]:
    checkpoint, previous = result["checkpoint"], result["previous"]
    lines = [
        f"entry {result['index']} is in the log {checkpoint['origin']}: its inclusion proof leads to the root of the "
        f"signed checkpoint of size {checkpoint['tree_size']} ({checkpoint['root_hash']})",
        (
            f"the log is consistent with the checkpoint seen before (size {previous['tree_size']})"
            if previous
            else f"first checkpoint of this log seen here; kept in {state}"
        ),
    ]
    if result["entry_hash"]:
        lines.append(f"the entry at index {result['index']} is the one with entry_hash {result['entry_hash']}")
    lines += [f"cosigned by witness {vkey}" for vkey in result["witnessed_by"]]
    return lines


@main.command()
@click.argument("index", type=click.IntRange(min=0))
@click.option("--log-key", help="The log's verifier string (default: pinned on first use from GET /log/key).")
@click.option("--entry-hash", help="The entry_hash the receipt gave: the entry at INDEX must be that one.")
@click.option("--envelope", type=click.Path(dir_okay=False), help="The envelope posted (JSON): bind to its entry_hash.")
@click.option("--witness", "witnesses", multiple=True, metavar="VKEY", help="A witness that must cosign (repeatable).")
@click.option("--witnesses-required", type=click.IntRange(min=0), metavar="K", help="How many of them (default: all).")
@click.option("--wait", type=float, default=0, help="Seconds to wait for a checkpoint that covers the entry.")
@click.option("--proof-out", type=click.Path(dir_okay=False), help="Write the c2sp.org/tlog-proof@v1 text there.")
@pass_context
def prove(
    obj: Context,
    index: int,
    log_key: str | None,
    entry_hash: str | None,
    envelope: str | None,
    witnesses: tuple[str, ...],
    witnesses_required: int | None,
    wait: float,
    proof_out: str | None,
) -> None:
    """Prove entry INDEX is in the log, and that the log only grew since the last call.

    Verifies the latest checkpoint under the log key (and --witness
    cosignatures) and the entry's inclusion proof against it; then a
    consistency proof from the checkpoint kept in the state file. A fork or
    rollback names both checkpoints and saves them as evidence beside the
    state file. Exit status: 0 proven; 1 a check failed (log_forked,
    log_rolled_back, entry_mismatch, witness); 2 bad arguments; 3 too few
    witnesses cosigned; 4 nothing concluded, try again (could_not_check,
    not_covered)."""
    expected = _expected_entry_hash(entry_hash, envelope)
    try:
        witness = Witness(
            obj.settings.state, log_key=log_key, witnesses=witnesses, witnesses_required=witnesses_required
        )
        with obj.client() as client:
            result = witness.prove(client, index, wait=wait, entry_hash=expected)
    except WitnessError as exc:
        _prove_failed(obj, exc)
    if proof_out:
        Path(proof_out).write_text(result["proof"], encoding="utf-8")
    obj.emit(result, "\n".join(_proven_lines(result, witness.path)))


from cairn_core.client.witness_cli import witness as witness_commands  # noqa: E402

main.add_command(witness_commands)


if __name__ == "__main__":
    main()
