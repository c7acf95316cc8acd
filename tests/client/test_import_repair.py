"""An import a supplier can repair (issue: suppliers at scale): a spreadsheet
from Excel validated, five rows fixed, imported, run again; a rerun after
fixing rows, without the journal, with duplicate rows, with --retry-refused."""

from __future__ import annotations

import csv
import time

import pytest

from provenance.models import Entry
from provenance.organizations import create_organization
from tests.client.spreadsheets import HEADER, LOTS, excel_rows, write_excel
from tests.support import logged_attestations

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# line (as the spreadsheet numbers it) -> the cell broken in it, and how
BROKEN = {
    2: ("Quantity", "-5"),  # the grammar refuses it: not signed
    6: ("Site_Country", "XX"),  # no such country: invalid_payload
    10: ("Batch", "kansai-refining:lot-5"),  # another organisation's prefix: forbidden
    14: ("Minerals", "unobtainium=1"),  # not a critical mineral: invalid_payload
    17: ("To", "nobody-at-all"),  # a transfer to no organisation: invalid_payload
}


def report(path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def imports(party, source, *extra: str, expect: int = 0) -> dict:
    return party.cairn_json("--issuer", "pilbara-mining", "import", str(source), *extra, expect=expect)


def test_a_supplier_validates_fixes_five_rows_imports_and_reruns_safely(miner):  # noqa: F811
    source = write_excel(miner.home / "shipments.csv", excel_rows(BROKEN))
    entries = Entry.objects.count()
    checked = imports(miner, source, "--validate", expect=1)
    assert Entry.objects.count() == entries
    refusals = {r["row"]: r for r in report(miner.home / "shipments.csv.validation.csv")}
    # the five, and the transfers of the four origins among them, naming the cause
    assert sorted(map(int, refusals)) == [2, 3, 6, 7, 10, 11, 14, 15, 17]
    assert checked["refused"] == 9
    assert refusals["10"]["code"] == "forbidden" and refusals["10"]["batch"] == "kansai-refining:lot-5"
    assert refusals["7"]["caused_by"] == "6" and refusals["7"]["batch"] == "pilbara-mining:lot-3"
    assert "row 6, which creates" in refusals["7"]["message"]

    write_excel(source, excel_rows({}))  # the five rows fixed
    assert imports(miner, source, "--validate")["refused"] == 0
    first = imports(miner, source)
    assert (first["created"], first["refused"]) == (2 * LOTS, 0)
    again = imports(miner, source)  # counts are of every run's answers
    assert (again["done_before"], again["created"], again["refused"]) == (2 * LOTS, 2 * LOTS, 0)
    assert logged_attestations().count() == 2 * LOTS
    # and lists what it has in the ledger
    listed = miner.cairn_json("entries", "--all")["entries"]
    mine = [e for e in listed if e["envelope"]["payloadType"] == "application/vnd.cairn.attestation+json"]
    assert len(mine) == 2 * LOTS


def test_a_rerun_after_fixing_rows_reposts_what_landed_and_signs_only_the_rest(miner):  # noqa: F811
    source = write_excel(miner.home / "shipments.csv", excel_rows(BROKEN))
    first = imports(miner, source, expect=1)
    assert (first["created"], first["refused"]) == (2 * LOTS - 9, 9)
    landed = set(logged_attestations().values_list("entry_hash", flat=True))

    write_excel(source, excel_rows({}))
    second = imports(miner, source)
    # the 11 rows that landed, posted again as they were signed: 200, nothing re-signed
    assert (second["already_logged"], second["created"], second["refused"]) == (2 * LOTS - 9, 9, 0)
    assert logged_attestations().count() == 2 * LOTS
    assert landed <= set(logged_attestations().values_list("entry_hash", flat=True))
    assert not (miner.home / "shipments.csv.refusals.csv").exists()


def test_rows_already_in_the_ledger_are_recognised_without_the_journal(miner):  # noqa: F811
    source = write_excel(miner.home / "shipments.csv", excel_rows({}))
    imports(miner, source)
    entries = Entry.objects.count()
    (miner.home / "shipments.csv.cairn-journal.jsonl").unlink()
    time.sleep(1.1)  # rows signed again get another issued_at (whole seconds)
    copy = miner.home / "copy-of-shipments.csv"
    copy.write_bytes(source.read_bytes())
    for path in (source, copy):
        rerun = imports(miner, path)
        assert (rerun["in_ledger"], rerun["already_logged"], rerun["refused"]) == (2 * LOTS, 2 * LOTS, 0)
        assert Entry.objects.count() == entries
    printed = miner.cairn("--issuer", "pilbara-mining", "import", str(copy)).stdout
    assert (
        "20 rows: 0 logged, 20 already logged (20 found in the ledger by their content), 0 refused "
        "(20 done by an earlier run)"
    ) in printed


def test_a_landed_origin_is_recognised_and_its_transfer_built_on_the_ledgers_head(miner):  # noqa: F811
    """Only the origins had landed when the journal was lost: the origins are
    found in the ledger and the transfers, signed on heads the ledger never
    had, are signed again on its heads and land."""
    source = write_excel(miner.home / "shipments.csv", excel_rows({}))
    origins = miner.home / "origins.csv"
    write_excel(origins, [row for row in excel_rows({}) if row[0] == "origin"])
    imports(miner, origins)
    time.sleep(1.1)
    rerun = imports(miner, source)
    assert (rerun["in_ledger"], rerun["created"], rerun["refused"]) == (LOTS, LOTS, 0)
    assert logged_attestations().count() == 2 * LOTS


def test_duplicate_rows_are_reported_as_such(miner):  # noqa: F811
    rows = excel_rows({})
    source = write_excel(miner.home / "shipments.csv", [*rows[:4], rows[0], *rows[4:]])
    summary = imports(miner, source, expect=1)
    assert summary["refusals"] == {"duplicate_row": 1}
    (duplicate,) = report(miner.home / "shipments.csv.refusals.csv")
    assert (duplicate["row"], duplicate["code"]) == ("6", "duplicate_row")
    assert duplicate["message"].startswith("the same as row 2")
    assert logged_attestations().count() == 2 * LOTS


def test_retry_refused_posts_unchanged_refused_rows_again(miner, organization):  # noqa: F811
    rows = excel_rows({})
    rows[1][HEADER.index("To")] = "late-refining"  # an organisation that does not exist yet
    source = write_excel(miner.home / "shipments.csv", rows)
    assert imports(miner, source, expect=1)["refusals"] == {"invalid_payload": 1}
    create_organization(slug="late-refining", name="Late", country="JP", roles=["supplier"])
    again = imports(miner, source, expect=1)  # unchanged, refused on its own account: left as it was
    assert (again["done_before"], again["created"], again["refusals"]) == (
        2 * LOTS,
        2 * LOTS - 1,
        {"invalid_payload": 1},
    )
    retried = imports(miner, source, "--retry-refused")
    assert (retried["done_before"], retried["created"], retried["refused"]) == (2 * LOTS - 1, 2 * LOTS, 0)
    assert logged_attestations().count() == 2 * LOTS


def test_a_rate_limited_import_says_so_waits_and_goes_on(miner, monkeypatch):  # noqa: F811
    from django.core.cache import cache

    from provenance.api.throttles import TokenRateThrottle

    cache.clear()
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"token": "2/s"})
    source = write_excel(miner.home / "shipments.csv", excel_rows({})[:6])
    result = miner.cairn("--issuer", "pilbara-mining", "import", str(source), "--batch-size", "1")
    assert "rate-limited, waiting 1 s" in result.stderr
    assert "6 rows: 6 logged" in result.stdout
    assert logged_attestations().count() == 6
    cache.clear()
