"""The client is an extra: the bare core never imports click or httpx."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import cairn_core

BLOCKER = """
import importlib, importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("click", "httpx", "django"):
            raise ImportError("the bare core imported " + name)
sys.meta_path.insert(0, Refuse())
for name in sys.argv[1:]:
    importlib.import_module(name)
print("ok")
"""


def test_the_core_without_the_client_extra_imports_neither_click_nor_httpx():
    modules = [f"cairn_core.{info.name}" for info in pkgutil.iter_modules(cairn_core.__path__)]
    bare = [name for name in modules if name != "cairn_core.client"]
    assert "cairn_core.dsse" in bare and "cairn_core.client" in modules
    done = subprocess.run([sys.executable, "-c", BLOCKER, *bare], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    refused = subprocess.run([sys.executable, "-c", BLOCKER, "cairn_core.client"], capture_output=True, text=True)
    assert "imported click" in refused.stderr or "imported httpx" in refused.stderr
    assert "needs the client extra: pip install './core[client]' from Cairn's source" in refused.stderr


def test_the_cairn_command_is_declared_in_the_core_package():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts["cairn"] == "cairn_core.cairn_command:main"


def test_the_cairn_command_without_the_client_extra_says_what_to_install():
    run = BLOCKER.replace('for name in sys.argv[1:]:\n    importlib.import_module(name)\nprint("ok")\n', "")
    run += "from cairn_core.cairn_command import main\nmain()\n"
    done = subprocess.run([sys.executable, "-c", run, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("cairn: the command needs the client extra: pip install './core[client]'")
