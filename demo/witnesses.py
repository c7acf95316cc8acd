"""The demo's two witnesses (contract §10): keys, state and how to start them.

`make demo` runs two of Cairn's own C2SP witnesses (`cairn witness serve`)
beside the server, so that every checkpoint of the demo is cosigned and its
bundles check out under `cairn-verify --log-key … --witness … --witness …`.
Everything lives under VAR_DIR/demo/witnesses: each witness's key (in
clear: demo only), its state directory, and `ledger_witnesses.json`, the
LEDGER_WITNESSES value the server, the worker and the loader are given.

A fresh demo ledger starts again at size 0, so the witnesses' state is
started again with it (a real witness never forgets: see docs/maintainers.md, "Witnesses").
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from cairn_core import cosignature
from cairn_core.client import keys as keyfiles
from provenance import ledger_key

NAMES = ("demo.cairn.localhost/witness-1", "demo.cairn.localhost/witness-2")


@dataclass(frozen=True)
class DemoWitness:
    name: str
    key_path: Path
    state: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def vkey(self) -> str:
        return cosignature.vkey(self.name, cosignature.public_key_of(keyfiles.load(self.key_path)))

    def command(self) -> list[str]:
        """`cairn witness serve …` for this witness (with --init on its first start)."""
        cairn = str(Path(sys.executable).with_name("cairn"))
        argv = [cairn, "witness", "serve", "--key", str(self.key_path), "--log", ledger_key.current().verifier]
        argv += ["--state", str(self.state), "--listen", f"127.0.0.1:{self.port}"]
        return argv if self.state.exists() else [*argv, "--init", "--name", self.name]


def directory() -> Path:
    return Path(settings.VAR_DIR) / "demo" / "witnesses"


def prepare(ports: list[int], *, fresh_ledger: bool) -> list[DemoWitness]:
    """The witnesses' keys (made once) and config file; their state wiped for a fresh ledger."""
    home = directory()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    witnesses = [
        DemoWitness(name, home / f"witness-{n}.pem", home / f"witness-{n}-state", port)
        for n, (name, port) in enumerate(zip(NAMES, ports, strict=True), start=1)
    ]
    for witness in witnesses:
        if not witness.key_path.exists():
            keyfiles.write(witness.key_path, keyfiles.generate())
        if fresh_ledger and witness.state.exists():
            shutil.rmtree(witness.state)
    config = [{"url": witness.url, "vkey": witness.vkey} for witness in witnesses]
    (home / "ledger_witnesses.json").write_text(json.dumps(config) + "\n")
    return witnesses


def shell_lines(witnesses: list[DemoWitness]) -> str:
    """One shell-quoted command line per witness."""
    return "".join(shlex.join(witness.command()) + "\n" for witness in witnesses)


def wait_until_up(witnesses: list[DemoWitness], seconds: float = 20.0) -> list[str]:
    """The witnesses that did not answer within `seconds`."""
    deadline = time.monotonic() + seconds
    waiting = list(witnesses)
    while waiting and time.monotonic() < deadline:
        waiting = [witness for witness in waiting if not _answers(witness.url)]
        if waiting:
            time.sleep(0.2)
    return [witness.name for witness in waiting]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1):  # noqa: S310 (a local demo URL)
            return True
    except OSError:
        return False
