"""The lines in which `cairn-verify` shows a signed verdict, per regime, and the helpers they share.

Every value is read by trying: a field of the wrong type is shown as the
JSON it is (the checks name it). The caller escapes unprintable characters.
"""

from __future__ import annotations

import json

from cairn_core.payload import JSONObject

REQUIREMENTS = (
    ("critical_minerals", "Critical minerals", "qualifying_pct", "qualifying"),
    ("battery_components", "Battery components", "north_america_pct", "North American"),
    ("foreign_entity_of_concern", "Foreign entity of concern", None, None),
    ("final_assembly", "Final assembly in North America", None, None),
    ("credit_in_force", "Credit in force", None, None),
)
NOT_RECORDED = "not recorded"


def verdict_30d(verdict: JSONObject) -> list[str]:
    """What the signed verdict says, requirements, rules and request included (any
    field of the wrong type shown as the JSON it is: the checks name it)."""
    lines = [f"Verdict (signed): credit ${usd(verdict.get('credit_usd'))}, integrity {text(verdict.get('integrity'))}"]
    lines += requirements(mapping(verdict.get("requirements")))
    agreements = [text(item) for item in items(verdict.get("agreements"))]
    lines.append(f"  Agreements relied on: {', '.join(agreements) if agreements else 'none'}")
    applied = mapping(verdict.get("applied"))
    lines.append(f"  Rules: {text(applied.get('rules_version'))} (SHA-256 {text(applied.get('rules_sha256'))})")
    lines.append(f"  Verification time: {text(verdict.get('verified_at') or NOT_RECORDED)}")
    lines.append(f"  Requested by: {requester(verdict.get('requested_by'))}")
    problems = [mapping(item) for item in items(verdict.get("problems"))]
    lines.append(f"  Problems in the verdict: {len(problems) or 'none'}")
    lines += [
        f"    index {text(item.get('index'))}: {text(item.get('code'))}: {text(item.get('message'))}"
        for item in problems
    ]
    return lines


def text(value: object) -> str:
    """A JSON value as the report shows it: a string as it is, anything else as its JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def mapping(value: object) -> JSONObject:
    """An object, or an empty one for anything else."""
    return value if isinstance(value, dict) else {}


def items(value: object) -> list[object]:
    """A list, or an empty one for anything else."""
    return value if isinstance(value, list) else []


def requester(requested_by: object) -> str:
    """`requested_by` as a person reads it: organisation and user, or a command's organisation."""
    if not isinstance(requested_by, dict):
        return NOT_RECORDED
    user, organization = requested_by.get("user"), requested_by.get("organization")
    who = f"user {text(user)}" if user is not None else "a command"
    return f"organisation {text(organization) if organization is not None else NOT_RECORDED}, {who}"


def requirements(found: JSONObject) -> list[str]:
    """§30D's requirements, one line each, with the figure and the percentage required."""
    lines = []
    for key, label, figure, figure_label in REQUIREMENTS:
        item = mapping(found.get(key))
        line = f"  {label}: {'met' if item.get('met') is True else 'not met'}"
        if figure:
            required = item.get("required_pct")
            line += f" ({text(item.get(figure))}% {figure_label}"
            line += f", {text(required)}% required)" if required is not None else ", no percentage applies)"
        lines.append(line)
    return lines


def usd(amount: object) -> str:
    """A whole dollar amount with thousands separators (anything else as it is)."""
    try:
        return f"{int(str(amount)):,}"
    except ValueError:
        return str(amount)
