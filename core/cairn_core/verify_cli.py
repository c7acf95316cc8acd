"""`cairn-verify`: check a Cairn proof bundle, or a verdict's signed report, offline (contract §8).

    cairn-verify BUNDLE --log-key VKEY [--witness VKEY]... [--witnesses-required K] [--json]
    cairn-verify --report FILE --log-key VKEY [--json]

`--log-key` is the ledger's verifier key (`<origin>+<hex key hash>+<base64>`,
as GET /api/v1/log/key gives it) and each `--witness` a witness's vkey
(`<name>+<hex key ID>+<base64>`), all obtained out of band: a bundle
carries its own keys, and anyone can make one that passes every check
under keys of their own. K defaults to the number of witnesses given.

Exit status:

* 0: every check passed against the pinned log key, and at least K of the
  pinned witnesses cosigned the bundle's checkpoint;
* 1: a check failed; each failure is named (a log key that is not the
  pinned one names both keys);
* 2: the file is not a bundle (or a report), cannot be read, or the
  arguments are bad (a malformed `--log-key` or `--witness` among them);
* 3: every check passed, but nothing anchors the bundle: no `--log-key`
  was given, or fewer than K pinned witnesses cosigned. The report then
  names the log key and the witnesses the bundle would need, and does not
  call it verified.

The report always names the log key checked against (pinned, or the
bundle's own), every pinned witness and whether its cosignature counts
(with its time), and the verdict's verification time, requester and rules
version with their digest. From contract v1.2 it also says how many ledger
entries (§12) the bundle carries, where its verdict entry is in the log and
who cosigned the checkpoint proving it, and, for an older bundle, notes
that its keys, organisations and rules are its own lists and its verdict
is not in the log (notes, not failures). `--json` prints the result as JSON instead,
every list and every differing field in full.

Regimes (cairn_core.regimes): a bundle's `regime` section says which
credit's verdict it carries ("45x": §45X material assistance,
docs/contract-45x.md); a bundle without one is §30D's. A report is
dispatched on its payload type. Every regime's bundle gets the same log,
checkpoint, witness, key, proof, chain and report checks, and the same
exit statuses; an unknown regime is exit 2.

A bundle is read within cairn_core.untrusted's limits (size decompressed,
nesting, numbers): beyond them, or wrongly typed where nothing can be
checked, it is exit 2 with one line on standard error, never a traceback.
Every string from the file is printed with its unprintable characters
escaped (`\x1b`, `\x0a`, `\u202e`), so none can hide or fake a line of
the report; the JSON output is JSON's own escaping.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from cairn_core import bundle, cosignature, regimes, signed_note, untrusted

KEYS_OUT_OF_BAND = (
    "Obtain the keys out of band (the operator's GET /api/v1/log/key and its witnesses' vkeys, an earlier "
    "bundle you trust, a witness operator's own record), compare them with these, and pin them."
)


@dataclass(frozen=True)
class Pins:
    """The keys the examiner trusts from elsewhere, as the arguments give them."""

    log_key: signed_note.Verifier | None
    witnesses: list[cosignature.WitnessKey]
    required: int


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse's own errors and --help
        return exc.code if isinstance(exc.code, int) else 2
    try:
        pins = _pins(options)
    except ValueError as exc:  # signed_note.NoteError among them
        print(f"cairn-verify: {exc}", file=sys.stderr)
        return 2
    if options.report is not None:
        return _check_report(options.report, pins, as_json=options.json)
    return _check_bundle(options.bundle, pins, as_json=options.json)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cairn-verify",
        description="Check a Cairn proof bundle offline: signatures, hash chains, inclusion in the signed log, "
        "witness cosignatures, the signed report, and the verdict recomputed from the bundle's evidence and "
        "rules; all against a log key and witness keys you obtained out of band.",
    )
    parser.add_argument("bundle", nargs="?", help="the bundle file (<VIN>.<id>.cairn-bundle.json), or - for stdin")
    parser.add_argument("--report", metavar="FILE", help="check a verdict's signed report alone (or - for stdin)")
    parser.add_argument("--log-key", metavar="VKEY", help="the ledger's verifier key, as GET /log/key gives it")
    parser.add_argument("--witness", metavar="VKEY", action="append", default=[], help="a witness's vkey (repeat)")
    parser.add_argument("--witnesses-required", metavar="K", type=int, help="how many must cosign (default: all)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _pins(options: argparse.Namespace) -> Pins:
    if (options.bundle is None) == (options.report is None):
        raise ValueError("give a bundle, or --report FILE, not both")
    if options.report is not None and (options.witness or options.witnesses_required is not None):
        raise ValueError("--witness and --witnesses-required apply to a bundle, not to --report")
    log_key = signed_note.parse_verifier(options.log_key.strip()) if options.log_key is not None else None
    witnesses = [cosignature.parse_vkey(text) for text in options.witness]
    return Pins(log_key, witnesses, bundle.required_witnesses(witnesses, options.witnesses_required))


def _read(path: str) -> bytes:
    """The file's bytes, at most cairn_core.untrusted's limit of them."""
    return untrusted.read_file(path, sys.stdin.buffer)


def _check_bundle(path: str, pins: Pins, *, as_json: bool) -> int:
    try:
        document = bundle.read(_read(path))
        regime = regimes.for_bundle(document)
        # A second core checks the signatures in a child process.
        result = regime.verify_bundle(
            document,
            processes=min(os.cpu_count() or 1, 2),
            log_key=pins.log_key,
            witnesses=pins.witnesses,
            witnesses_required=pins.required,
        )
    except (OSError, untrusted.TooLarge, bundle.NotABundle) as exc:
        return _unreadable(path, "not a Cairn proof bundle", exc)
    except Exception as exc:  # noqa: BLE001 (any input the checks did not foresee: unreadable, never a traceback)
        return _unreadable(path, "a bundle this verifier cannot read", exc)
    print(json.dumps(result.as_dict(), indent=2, sort_keys=True) if as_json else report(result, regime))
    return result.status


def _check_report(path: str, pins: Pins, *, as_json: bool) -> int:
    try:
        document = bundle.load_report(_read(path))
        regime = regimes.for_report(document)
        result = regime.verify_report(document, log_key=pins.log_key)
    except (OSError, untrusted.TooLarge, bundle.NotAReport) as exc:
        return _unreadable(path, "not a Cairn verification report", exc)
    except Exception as exc:  # noqa: BLE001 (as above)
        return _unreadable(path, "a report this verifier cannot read", exc)
    print(json.dumps(result.as_dict(), indent=2, sort_keys=True) if as_json else report_of_report(result, regime))
    return result.status


def _unreadable(path: str, what: str, exc: Exception) -> int:
    """Exit 2, saying why on standard error (the file's own text escaped)."""
    why = str(exc) if isinstance(exc, OSError | ValueError) else f"{type(exc).__name__}: {exc}"
    print(untrusted.printable(f"cairn-verify: {path}: {what}: {_clip(why, 400)}"), file=sys.stderr)
    return 2


# --- the bundle's report ---------------------------------------------------------------


def report(result: bundle.Result, regime: regimes.Regime = regimes.S30D) -> str:
    """The readable report: what the verdict says, what was checked against which keys, every failure."""
    verdict = result.verdict
    size = result.tree_size if result.tree_size is not None else "?"
    if regime is regimes.S30D:
        subject = f"VIN {result.vin}"
        where = f"verification {verdict.get('id')}, claim entry {verdict.get('claim_index')}"
    else:
        subject = f"{regime.citation}, batch {verdict.get('batch')}, taxable year {verdict.get('taxable_year')}"
        where = f"verification {verdict.get('id')}, regime {regime.name}"
    lines = [
        f"Cairn proof bundle for {subject}",
        f"  {where}, {result.entries} entries, checkpoint of {size} entries",
        "",
        *regime.describe(verdict),
        *_problems(result),
        "",
        *_ledger(result),
        "",
        *_keys(result),
        "",
        *_conclusion(result),
    ]
    return _printed(lines)


def _printed(lines: list[str]) -> str:
    """The report's lines, each with the unprintable characters of the bundle's
    strings escaped: none can hide, move or add a line (ESC, CR, LF, bidi)."""
    return "\n".join(untrusted.printable(line) for line in lines)


def _ledger(result: bundle.Result) -> list[str]:
    """Where keys, organisations and rules came from, and the verdict's own entry in the log (contract §12)."""
    if result.ledger_entries:
        lines = [
            f"Ledger entries in the bundle: {result.ledger_entries}; key validity, countries, roles and the rule "
            "data's digest are taken from them"
        ]
    else:
        lines = ["Ledger entries in the bundle: none"]
    found = result.verdict_entry
    if found is not None:
        size = found.tree_size if found.tree_size is not None else "?"
        lines.append(f"Verdict entry: index {found.index}, in the log-signed checkpoint of {size} entries")
        lines.append(f"  its checkpoint's cosignature lines: {_signers(found.cosigners)}")
        if found.witnesses:
            lines.append(f"  pinned witnesses that cosigned it: {', '.join(found.witnesses)}")
    lines += [f"Note: {note}" for note in result.notes]
    return lines


def _problems(result: bundle.Result) -> list[str]:
    """The verdict's integrity problems: recomputed from the bundle, or only the server can know."""
    lines = []
    if result.problems_recomputed:
        lines.append(f"  Integrity problems recomputed from the bundle: {len(result.problems_recomputed)}")
        lines += [f"    {problem.line}: {problem.code}" for problem in result.problems_recomputed]
    if result.problems_not_checkable:
        lines.append(f"  Integrity problems not checkable offline: {len(result.problems_not_checkable)}")
        for problem in result.problems_not_checkable:
            why = bundle.NOT_CHECKABLE_OFFLINE.get(problem.code, "")
            lines.append(f"    index {problem.index}: {problem.code}: {_clip(problem.message)} (needs {why})")
    return lines


def _keys(result: bundle.Result) -> list[str]:
    """The log key checked against, each pinned witness, and the bundle's cosignature lines."""
    if result.log_key_pinned:
        lines = [f"Log key (pinned): {result.log_key}"]
        if result.bundle_log_key != result.log_key:
            lines.append(f"  the bundle's own log key: {result.bundle_log_key or 'unreadable'}")
    else:
        lines = [f"Log key (the bundle's own, not pinned): {result.log_key or 'unreadable'}"]
    count = f"{result.cosigned} of {len(result.witnesses)} pinned cosigned, {result.witnesses_required} required"
    lines.append(f"Witnesses: {count}" if result.witnesses else "Witnesses: none pinned")
    for check in result.witnesses:
        state = f"cosigned at {bundle.rfc3339(check.cosigned.timestamp)}" if check.cosigned else check.reason
        lines.append(f"  {check.witness}: {state}")
    lines.append(f"Cosignature lines in the bundle: {_signers(result.cosigners)}")
    return lines


def _signers(cosigners: list[dict[str, str | None]]) -> str:
    if not cosigners:
        return "none"
    return ", ".join(f"{item['name']} (key ID {item['key_id'] or 'unreadable'})" for item in cosigners)


def _conclusion(result: bundle.Result) -> list[str]:
    if result.status == bundle.FAILED:
        return [f"NOT VERIFIED: {len(result.failures)} failed check(s)"] + [
            f"  FAIL {failure.brief}" for failure in result.failures
        ]
    if result.status == bundle.UNANCHORED:
        return _unanchored(result)
    witnesses = f"{result.cosigned} pinned witness(es)" if result.witnesses else "no witnesses (none pinned)"
    return [
        "VERIFIED: every entry is signed, chained and in the signed log; the report is signed by the log; "
        "the verdict recomputed from the bundle is the signed one; "
        f"against the pinned log key, cosigned by {witnesses}."
    ]


def _unanchored(result: bundle.Result) -> list[str]:
    """Exit 3: what the bundle would need to be trusted. Never the word of exit 0."""
    if not result.log_key_pinned:
        why = "no --log-key was given"
    else:
        why = f"only {result.cosigned} of the {result.witnesses_required} required pinned witnesses cosigned"
    cosigned = [str(check.witness) for check in result.witnesses if check.cosigned]
    lines = [
        f"UNANCHORED: every check passed, but nothing anchors it to keys you trust: {why}.",
        "  Anyone can make a bundle that passes every check under keys of their own. It would need:",
    ]
    if not result.log_key_pinned:
        lines.append(f"  --log-key {result.bundle_log_key or '(unreadable)'}")
    return lines + [
        f"  witnesses among the bundle's cosignature lines: {_signers(result.cosigners)}",
        f"  pinned witnesses that cosigned: {', '.join(cosigned) or 'none'}",
        f"  {KEYS_OUT_OF_BAND}",
    ]


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the signed report alone -------------------------------------------------------------


def report_of_report(result: bundle.ReportResult, regime: regimes.Regime = regimes.S30D) -> str:
    verdict = result.verdict
    if regime is regimes.S30D:
        subject = f"VIN {verdict.get('vin')}, claim entry {verdict.get('claim_index')}"
    else:
        subject = f"{regime.citation}, batch {verdict.get('batch')}, taxable year {verdict.get('taxable_year')}"
    lines = [
        "Cairn verification report (the signed verdict alone; nothing recomputed: that needs the bundle)",
        f"  {subject}, verification {verdict.get('id')}",
        "",
        *regime.describe(verdict),
        "",
        f"Log key (pinned): {result.log_key}" if result.log_key else "Log key: none pinned",
        f"Signed by keyid(s): {', '.join(result.keyids)}",
        "",
    ]
    if result.status == bundle.FAILED:
        lines.append(f"NOT VERIFIED: {len(result.failures)} failed check(s)")
        lines += [f"  FAIL {failure.brief}" for failure in result.failures]
    elif result.status == bundle.UNANCHORED:
        lines.append(
            "UNANCHORED: the report reads as a verdict, but no --log-key was given, so its signature was not "
            "checked. Pin the log key whose keyid (hex SHA-256 of its public key) signed it."
        )
        lines.append(f"  {KEYS_OUT_OF_BAND}")
    else:
        lines.append("VERIFIED: the report is signed by the pinned log key and reads as a verdict.")
    return _printed(lines)


if __name__ == "__main__":
    sys.exit(main())
