"""The documentation: the contract and the domain facts in the repository,
identical to the shared documents, and a site that builds with no broken
link or anchor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The shared documents sit beside the repository (../shared), or where CAIRN_SHARED_DIR says.
SHARED = Path(os.environ.get("CAIRN_SHARED_DIR") or ROOT.parent / "shared")


@pytest.mark.parametrize(("ours", "theirs"), [("contract.md", "CONTRACT.md"), ("domain.md", "DOMAIN.md")])
def test_the_repository_holds_the_shared_documents_unchanged(ours, theirs):
    shared = SHARED / theirs
    if not shared.exists():
        pytest.skip(f"no shared {theirs} beside the repository ({shared}) to compare with")
    assert (ROOT / "docs" / ours).read_bytes() == shared.read_bytes(), (
        f"docs/{ours} differs from {shared}: copy the shared document in and commit it"
    )


def test_the_documentation_site_builds_strictly(tmp_path):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "contract" / "index.html").exists()
