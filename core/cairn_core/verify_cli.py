"""`cairn-verify BUNDLE`: check a Cairn proof bundle offline.

Exit status: 0 when the bundle verifies, 1 when it does not, 2 when the
file is not a bundle (or cannot be read). `--json` prints the result as
JSON instead of the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from cairn_core import bundle
from cairn_core.payload import JSONObject

REQUIREMENTS = (
    ("critical_minerals", "Critical minerals", "qualifying_pct", "qualifying"),
    ("battery_components", "Battery components", "north_america_pct", "North American"),
    ("foreign_entity_of_concern", "Foreign entity of concern", None, None),
    ("final_assembly", "Final assembly in North America", None, None),
    ("credit_in_force", "Credit in force", None, None),
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cairn-verify",
        description="Verify a Cairn proof bundle offline: signatures, hash chains, inclusion in the signed "
        "log, the signed report, and the verdict recomputed from the bundle's evidence and rules.",
    )
    parser.add_argument("bundle", help="the bundle file (<VIN>.cairn-bundle.json), or - for standard input")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    options = parser.parse_args(argv)
    try:
        raw = sys.stdin.buffer.read() if options.bundle == "-" else _read(options.bundle)
        result = bundle.verify(bundle.load(raw))
    except (OSError, bundle.NotABundle) as exc:
        print(f"cairn-verify: {options.bundle}: not a Cairn proof bundle: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict(), indent=2, sort_keys=True) if options.json else report(result))
    return 0 if result.verified else 1


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def report(result: bundle.Result) -> str:
    """The readable report: what the verdict says, what was checked, and every failure."""
    verdict = result.verdict
    lines = [
        f"Cairn proof bundle for VIN {result.vin}",
        f"  verification {verdict.get('id')}, claim entry {verdict.get('claim_index')}, "
        f"{result.entries} entries, checkpoint of {result.tree_size if result.tree_size is not None else '?'} entries",
        "",
        f"Verdict (signed): credit ${_usd(verdict.get('credit_usd'))}, integrity {verdict.get('integrity')}",
    ]
    lines += _requirements(verdict.get("requirements") or {})
    agreements = verdict.get("agreements") or []
    lines.append(f"  Agreements relied on: {', '.join(agreements) if agreements else 'none'}")
    lines.append(f"  Rules: {verdict.get('rules_version')} (SHA-256 {verdict.get('rules_sha256')})")
    problems = verdict.get("problems") or []
    lines.append(f"  Problems in the verdict: {len(problems) or 'none'}")
    lines += [f"    index {item.get('index')}: {item.get('code')}: {item.get('message')}" for item in problems]
    lines.append("")
    if result.verified:
        lines.append(
            "VERIFIED: every entry is signed, chained and in the signed log; the report is signed by the log; "
            "the verdict recomputed from the bundle is the signed one."
        )
    else:
        lines.append(f"NOT VERIFIED: {len(result.failures)} failed check(s)")
        lines += [f"  FAIL {failure.line}" for failure in result.failures]
    return "\n".join(lines)


def _requirements(requirements: JSONObject) -> list[str]:
    lines = []
    for key, label, figure, figure_label in REQUIREMENTS:
        item = requirements.get(key) or {}
        text = f"  {label}: {'met' if item.get('met') else 'not met'}"
        if figure:
            required = item.get("required_pct")
            text += f" ({item.get(figure)}% {figure_label}"
            text += f", {required}% required)" if required is not None else ", no percentage applies)"
        lines.append(text)
    return lines


def _usd(amount: object) -> str:
    try:
        return f"{int(str(amount)):,}"
    except ValueError:
        return str(amount)


if __name__ == "__main__":
    sys.exit(main())
