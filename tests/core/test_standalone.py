"""The core package stands alone: no Django, no database, nothing of the apps."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import cairn_core

FORBIDDEN = ("django", "rest_framework", "celery", "provenance", "agreements", "material_assistance", "audit", "config")

BLOCKER = f"""
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {FORBIDDEN!r}:
            raise ImportError("cairn_core imported " + name)
sys.meta_path.insert(0, Refuse())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print("ok")
"""


def core_modules() -> list[str]:
    """Every module of the core, those of its packages (the regimes, the client) included;
    not a `__main__`, which runs its program when imported."""
    found = pkgutil.walk_packages(cairn_core.__path__, prefix="cairn_core.")
    return [info.name for info in found if not info.name.endswith(".__main__")]


def test_every_core_module_imports_without_django_or_the_apps():
    modules = core_modules()
    assert {
        "cairn_core.dsse",
        "cairn_core.merkle",
        "cairn_core.regimes.s30d.rules",
        "cairn_core.regimes.s30d.lineage",
        "cairn_core.regimes.s45x.macr",
    } <= set(modules)
    done = subprocess.run([sys.executable, "-c", BLOCKER, *modules], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
