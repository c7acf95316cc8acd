"""Backup and restore as docs/operators.md ("Backup and restore") tells an operator:
pg_dump -Fc, pg_restore into a new database, verify_ledger.

A restored copy verifies intact; one byte changed in it is caught; and a
restore that lost the last entries, which the latest checkpoint covers, is
caught too.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.ops.stack import manage, production_environment, query

pytestmark = [pytest.mark.postgres, pytest.mark.drill]

# Appends a chain from mine to vehicle and publishes a checkpoint; the
# parties are created on the first run.
CHAIN_SCRIPT = """
import os
from django.db import transaction
from provenance.checkpoints import publish_checkpoint
from provenance.models import Organization
from tests.support import Ledger, Party, make_party, mine_to_claim
with transaction.atomic():
    first = not Organization.objects.filter(slug="pilbara-mining").exists()
    if first:
        parties = [make_party("pilbara-mining", ["supplier"], "AU"), make_party("kansai-refining", ["supplier"], "JP"),
                   make_party("detroit-cells", ["manufacturer"], "US")]
    else:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        parties = []
        for slug in ("pilbara-mining", "kansai-refining", "detroit-cells"):
            party = Party(org=Organization.objects.get(slug=slug), token="", private_key=None, keyid="")
            party.private_key, party.keyid = party.new_key()
            parties.append(party)
    ledger = Ledger(counter=int(os.environ["CHAIN_COUNTER"]))
    mine_to_claim(ledger, *parties, os.environ["CHAIN_VIN"])
    publish_checkpoint()
"""


def pg(cluster, tool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool, "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def restore(cluster, dump, name: str) -> str:
    """The operators' restore (docs/operators.md): a new database, pg_restore into it."""
    query(cluster.url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg(cluster, "createdb", name)
    pg(cluster, "pg_restore", "--no-owner", "--exit-on-error", "-d", name, str(dump))
    return cluster.url(name)


def verify(env: dict, url: str) -> subprocess.CompletedProcess:
    return manage({**env, "DATABASE_URL": url}, "verify_ledger", "--no-progress")


def append_chain(env: dict, vin: str, counter: int) -> None:
    result = manage({**env, "CHAIN_VIN": vin, "CHAIN_COUNTER": str(counter)}, "shell", "-c", CHAIN_SCRIPT)
    assert result.returncode == 0, result.stderr


def tamper(url: str, sql: str, params: tuple = ()) -> None:
    """Change a row behind the application's back (the append-only triggers off)."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql, params)


def test_backup_and_restore(cluster, ledger_db, tmp_path):
    env = production_environment(tmp_path / "var", ledger_db, "memory://")
    append_chain(env, "1HGCM82633A004352", 0)
    earlier = tmp_path / "earlier.dump"
    pg(cluster, "pg_dump", "-Fc", "-f", str(earlier), ledger_db.rsplit("/", 1)[1])
    (earlier_size,) = query(ledger_db, "SELECT count(*) FROM provenance_entry")[0]
    append_chain(env, "1HGCM82633A004353", 100)
    latest = tmp_path / "latest.dump"
    pg(cluster, "pg_dump", "-Fc", "-f", str(latest), ledger_db.rsplit("/", 1)[1])
    # 14 attestations, and the ledger's own entries (organisations, keys, rules: contract §12)
    assert query(ledger_db, "SELECT count(*) FROM provenance_entry WHERE type <> 'ledger'")[0][0] == 14
    size, last = query(ledger_db, "SELECT count(*), max(index) FROM provenance_entry")[0]
    assert last == size - 1 and size > earlier_size
    assert query(ledger_db, "SELECT max(tree_size) FROM provenance_checkpoint")[0][0] == size

    # 1. the restored copy verifies intact
    copy = restore(cluster, latest, "restored")
    result = verify(env, copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"entries 0..{size - 1}: intact" in result.stderr

    # 2. one byte changed in an attestation's signature is caught, at its index
    ((index, envelope),) = query(
        copy, "SELECT index, envelope FROM provenance_entry WHERE type <> 'ledger' ORDER BY index OFFSET 9 LIMIT 1"
    )
    position = envelope.index('"sig": "') + 12 if '"sig": "' in envelope else envelope.index('"sig":"') + 11
    changed = envelope[:position] + ("A" if envelope[position] != "A" else "B") + envelope[position + 1 :]
    tamper(copy, "UPDATE provenance_entry SET envelope = %s WHERE index = %s", (changed, index))
    result = verify(env, copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"index {index}:"), result.stdout

    # 3. a restore that lost the second chain, which the latest checkpoint
    #    covers: the earlier dump, with the checkpoints that survived elsewhere
    lost = restore(cluster, earlier, "restored_lost_tail")
    assert query(lost, "SELECT count(*) FROM provenance_entry")[0][0] == earlier_size
    for tree_size, root_hash, note, published_at in query(
        ledger_db,
        "SELECT tree_size, root_hash, note, published_at FROM provenance_checkpoint WHERE tree_size > %s",
        (earlier_size,),
    ):
        tamper(
            lost,
            "INSERT INTO provenance_checkpoint (tree_size, root_hash, note, published_at) VALUES (%s, %s, %s, %s)",
            (tree_size, root_hash, note, published_at),
        )
    result = verify(env, lost)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"checkpoint {size} is beyond the log" in result.stdout, result.stdout
    print(f"\nBACKUP lost tail: verify_ledger exit {result.returncode}: {result.stdout.strip()[:300]}")
