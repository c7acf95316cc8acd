"""The `cairn` command's entry point, importable without the client extra.

The command lives in `cairn_core.client`, which needs click and httpx. A
core installed without them (`pip install ./core`) still has the `cairn`
script; run, it says what to install and exits 2 instead of a traceback.
"""

from __future__ import annotations

import sys

from cairn_core import CLIENT_EXTRA_MISSING


def main() -> None:
    try:
        from cairn_core.client.cli import main as cli
    except ImportError as exc:
        missing = exc.__cause__ or exc  # the client names the extra; say which module was missing
        sys.stderr.write(f"cairn: the command {CLIENT_EXTRA_MISSING} ({missing})\n")
        raise SystemExit(2) from None
    cli(prog_name="cairn")
