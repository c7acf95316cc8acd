"""Cairn's own supply chain: what an install takes, and from where.

The server's distribution carries the core from the clone (no dependency
names it, so no index can substitute a stranger's package of that name), and
every distribution `make install` takes is pinned with its hashes in
requirements/*.txt, which must list every dependency pyproject.toml names.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Distribution names that belong to unrelated projects on the public index.
TAKEN = {"cairn", "cairn-core"}


def _name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _locked(lock: Path) -> dict[str, list[str]]:
    """{name: [sha256 hashes]} of a `--generate-hashes` lock file."""
    pins: dict[str, list[str]] = {}
    current = ""
    for line in lock.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            current = _name(line.split("==")[0])
            assert "==" in line, f"{lock.name}: {line!r} is not pinned to one version"
            pins[current] = []
        elif "--hash=sha256:" in line:
            pins[current].append(line.split("--hash=sha256:")[1].split()[0])
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_no_distribution_name_is_one_taken_on_the_package_index():
    core = tomllib.loads((ROOT / "core" / "pyproject.toml").read_text())["project"]
    project = _project()
    assert {project["name"], core["name"]}.isdisjoint(TAKEN)
    named = [*project["dependencies"], *project["optional-dependencies"]["dev"], *core["dependencies"]]
    assert not {_name(r) for r in named} & (TAKEN | {project["name"], core["name"]})


@pytest.mark.parametrize(("lock", "extras"), [("base.txt", ()), ("dev.txt", ("dev",))])
def test_the_locks_pin_every_dependency_with_hashes(lock, extras):
    project = _project()
    wanted = [*project["dependencies"], *(r for extra in extras for r in project["optional-dependencies"][extra])]
    pins = _locked(ROOT / "requirements" / lock)
    missing = sorted({_name(r) for r in wanted} - set(pins))
    assert not missing, f"requirements/{lock} lacks {missing}: run `make lock`"
    assert all(pins.values()), [name for name, hashes in pins.items() if not hashes]
    assert {"setuptools", "wheel"} <= set(pins)  # the build backend comes from the lock too


def test_make_install_takes_only_hashed_distributions_and_the_clone():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(BIN)/.installed:")[1].split("\ninstall:")[0]
    installs = [line.strip() for line in recipe.splitlines() if "pip install" in line]
    assert installs == [
        "$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.txt",
        "$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .",
    ]


def test_a_plain_editable_install_of_a_fresh_clone_imports_its_own_core(tmp_path):
    """`pip install -e .` in a new virtualenv, from a fresh clone: the core
    imported is the clone's. The new environment sees the already installed
    (locked) dependencies through a .pth file, so pip resolves every
    dependency the project names without fetching any; only the isolated
    build's setuptools may come from the index."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = next(p for p in sys.path if p.endswith("site-packages"))
    Path(site, "locked-dependencies.pth").write_text(ours + "\n")
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-e", "."],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    where = subprocess.run(
        [str(python), "-c", "import cairn_core, provenance; print(cairn_core.__file__, provenance.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where == [str(clone / "core" / "cairn_core" / "__init__.py"), str(clone / "provenance" / "__init__.py")]
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--path", site],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {_name(item["name"]) for item in json.loads(listed)} - {"pip", "setuptools"}
    assert installed == {"cairn-ledger"}  # nothing else was fetched into the new environment


def test_honcho_is_a_development_tool_not_a_production_dependency():
    """Production hosts run deploy/systemd's units; honcho runs the Procfile
    in development and in the production-run tests."""
    assert "honcho" not in {_name(r) for r in _project()["dependencies"]}
    assert "honcho" not in _locked(ROOT / "requirements" / "base.txt")
    assert "honcho" in _locked(ROOT / "requirements" / "dev.txt")


def test_the_wheel_carries_the_server_and_its_core_but_not_the_demo(tmp_path):
    # Built from a copy: a clone's build/ may hold modules of an earlier tree.
    source = tmp_path / "source"
    ignored = shutil.ignore_patterns(".git", ".venv", "var", "build", "*.egg-info", "__pycache__", "test-artifacts")
    shutil.copytree(ROOT, source, ignore=ignored)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."],
        cwd=source,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("cairn_ledger-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packages = {name.split("/")[0] for name in archive.namelist() if name.endswith(".py")}
    assert packages == {
        "agreements",
        "audit",
        "cairn_core",
        "config",
        "material_assistance",
        "provenance",
        "rule_admin",
    }
