"""`cairn import`: 2,000 rows of history through the batch endpoint, cut off
after the server took a batch whose answer was lost, then resumed: nothing
is logged twice, and every refusal is reported with its code."""

from __future__ import annotations

import csv
import json

import httpx
import pytest

from cairn_core.client import Client, Importer, keys
from cairn_core.client.importer import ImportFailure, RowError, statement_from_csv
from provenance.models import Batch, Entry
from tests.support import logged_attestations

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROWS = 2000
BAD_ORIGIN_ROW = 701  # a batch id of another organisation: forbidden, and its transfer finds no batch
BAD_ORIGIN_LINE = BAD_ORIGIN_ROW + 1  # its line in the file, as a spreadsheet numbers it (the header is line 1)


def history_csv(path, rows: int = ROWS, bad: int = BAD_ORIGIN_ROW):
    """Origins of lots and, on the next row, their transfer to the refiner;
    row `bad` is an origin the miner may not make."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["type", "batch", "occurred_at", "material", "quantity", "unit", "value_added_usd",
                         "minerals", "activity", "site_name", "site_country", "to"])  # fmt: skip
        for number in range(1, rows + 1, 2):
            prefix = "kansai-refining" if number == bad else "pilbara-mining"
            lot = f"{prefix}:lot-{number}"
            when = f"2024-0{1 + number % 9}-01T08:00:00Z"
            writer.writerow(["origin", lot, when, "spodumene", "100", "kg", "120", "lithium=6", "extraction",
                             "Pilgangoora", "AU", ""])  # fmt: skip
            writer.writerow(["transfer", lot, when, "", "", "", "", "", "", "", "", "kansai-refining"])
    return path


class LoseAnAnswer(httpx.BaseTransport):
    """Forwards to the server; the `lose`-th batch reaches it and is
    committed, but its answer is lost, as when the network drops or the
    process is killed while waiting."""

    def __init__(self, lose: int) -> None:
        self.inner, self.lose, self.batches = httpx.HTTPTransport(), lose, 0

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        if request.url.path.endswith("/attestations/batch"):
            self.batches += 1
            if self.batches == self.lose:
                response.read()
                raise httpx.ReadError("connection lost", request=request)
        return response


def test_an_interrupted_import_resumes_and_logs_nothing_twice(miner):
    source = history_csv(miner.home / "history.csv")
    client = Client(miner.url, miner.token, transport=LoseAnAnswer(lose=6))
    importer = Importer(
        client, keys.load(miner.key), source, issuer="pilbara-mining", batch_size=100, in_flight=1
    )  # one chunk at a time: the five before it answered, none after it sent
    with pytest.raises(Exception, match="connection lost"):
        importer.run()
    assert logged_attestations().count() == 600  # six batches of 100 landed; the sixth's answer never came

    resumed = miner.cairn_json("--issuer", "pilbara-mining", "import", str(source), "--batch-size", "100", expect=1)
    assert resumed["rows"] == ROWS and resumed["done_before"] == 500
    assert resumed["already_logged"] == 100  # the batch whose answer was lost, posted again: 200s
    assert resumed["created"] == ROWS - 2 - 100
    assert resumed["refusals"] == {"forbidden": 1, "unknown_batch": 1}
    assert logged_attestations().count() == ROWS - 2
    entries = Entry.objects.count()
    hashes = list(Entry.objects.values_list("entry_hash", flat=True))
    assert len(set(hashes)) == len(hashes)
    assert Batch.objects.filter(custodian_id="kansai-refining").count() == ROWS // 2 - 1
    assert list(Entry.objects.order_by("index").values_list("index", flat=True)) == list(range(entries))

    # the report: every refusal, its row and code
    with (miner.home / "history.csv.refusals.csv").open() as handle:
        report = list(csv.DictReader(handle))
    assert [(r["row"], r["status"], r["code"]) for r in report] == [
        (str(BAD_ORIGIN_LINE), "403", "forbidden"),
        (str(BAD_ORIGIN_LINE + 1), "404", "unknown_batch"),
    ]
    assert report[1]["message"].endswith(f"(row {BAD_ORIGIN_LINE}, which creates the batch, was refused)")
    # and printed, with their codes
    again = miner.cairn("--issuer", "pilbara-mining", "import", str(source), expect=1)
    assert f"row {BAD_ORIGIN_LINE}: 403 forbidden: " in again.stdout
    assert f"row {BAD_ORIGIN_LINE + 1}: 404 unknown_batch: " in again.stdout
    assert f"({ROWS} done by an earlier run)" in again.stdout
    assert Entry.objects.count() == entries


def test_json_lines_with_statements_envelopes_and_bad_lines(miner, tmp_path):
    key = keys.load(miner.key)
    from cairn_core.client import statements

    def origin(lot):
        return {
            "type": "origin",
            "issuer": "pilbara-mining",
            "activity": "extraction",
            "site": {"name": "Pilgangoora", "country": "AU"},
            "outputs": [{"batch": f"pilbara-mining:{lot}", "material": "ore", "quantity": "5", "unit": "kg",
                         "minerals": {"lithium": "1"}, "value_added_usd": "1"}],
        }  # fmt: skip

    envelope = statements.sign(origin("signed-before"), key)
    transform = {
        "type": "transform",
        "issuer": "pilbara-mining",
        "activity": "processing",
        "site": {"name": "Kwinana", "country": "AU"},
        "inputs": [{"batch": "pilbara-mining:a", "quantity": "5"}, {"batch": "pilbara-mining:signed-before",
                                                                     "quantity": "5"}],
        "outputs": [{"batch": "pilbara-mining:mix", "material": "m", "quantity": "1", "unit": "kg",
                     "value_added_usd": "10"}],
    }  # fmt: skip
    lines = [json.dumps(origin("a")), json.dumps(envelope), "not json", "[1]", json.dumps(transform), ""]
    source = tmp_path / "history.jsonl"
    source.write_text("\n".join(lines) + "\n")
    summary = miner.cairn_json("import", str(source), expect=1)
    assert summary["created"] == 3 and summary["refusals"] == {"invalid_row": 2}
    mix = Batch.objects.get(id="pilbara-mining:mix")
    assert mix.head == logged_attestations().order_by("index")[2].entry_hash


def test_csv_columns():
    statement = statement_from_csv(
        {"type": "transform", "batch": "acme:out", "material": "cathode", "quantity": "10", "unit": "kg",
         "value_added_usd": "500", "component": "", "activity": "processing", "site_name": "Plant",
         "site_country": "US", "inputs": "acme:a=5; acme:b=2.5", "occurred_at": "2024-01-01T00:00:00Z"}
    )  # fmt: skip
    assert statement == {
        "type": "transform",
        "occurred_at": "2024-01-01T00:00:00Z",
        "activity": "processing",
        "site": {"name": "Plant", "country": "US"},
        "inputs": [{"batch": "acme:a", "quantity": "5"}, {"batch": "acme:b", "quantity": "2.5"}],
        "outputs": [{"batch": "acme:out", "material": "cathode", "quantity": "10", "unit": "kg",
                     "value_added_usd": "500"}],
    }  # fmt: skip
    with pytest.raises(RowError, match="unknown columns colour"):
        statement_from_csv({"type": "origin", "colour": "red"})
    with pytest.raises(RowError, match="use JSON Lines"):
        statement_from_csv({"type": "claim"})
    with pytest.raises(RowError, match="name=value"):
        statement_from_csv({"type": "origin", "minerals": "lithium"})


def test_a_batch_size_beyond_the_endpoint_is_refused(tmp_path):
    with pytest.raises(ImportFailure):
        Importer(Client("http://127.0.0.1:9"), None, tmp_path / "x.csv", batch_size=1001)
    with pytest.raises(ImportFailure, match="1 to 8 chunks may be in flight"):
        Importer(Client("http://127.0.0.1:9"), None, tmp_path / "x.csv", in_flight=0)


def test_ctrl_c_stops_an_import_that_the_same_command_resumes(miner):
    """A real interruption: SIGINT to the `cairn import` process mid-way."""
    import signal
    import subprocess
    import sys
    import time

    source = history_csv(miner.home / "history.csv", rows=600)
    journal = miner.home / "history.csv.cairn-journal.jsonl"
    command = [sys.executable, "-m", "cairn_core.client", "--issuer", "pilbara-mining", "import", str(source)]
    process = subprocess.Popen(
        [*command, "--batch-size", "5"], env=miner.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if journal.exists() and journal.read_text().count('"result"') >= 20:
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted: run the same command again to resume" in stderr
    landed = logged_attestations().count()
    assert 20 <= landed < 600
    resumed = subprocess.run([*command, "--batch-size", "100"], env=miner.env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("600 rows: ") and "refused" in resumed.stdout
    assert logged_attestations().count() == 600
    hashes = list(Entry.objects.values_list("entry_hash", flat=True))
    assert len(set(hashes)) == len(hashes)


def spreadsheet(tmp_path, text: str, encoding: str = "utf-8"):
    path = tmp_path / "sheet.csv"
    path.write_bytes(text.encode(encoding))
    return Importer(None, None, path, issuer="pilbara-mining")  # reading needs no server


ORIGIN_CELLS = "origin;pilbara-mining:ore-1;spodumene;1000;kg;1200;lithium=60;extraction;Greenbushes;AU"
HEADER = "Type;Batch;Material;Quantity;Unit;Value_Added_USD;Minerals;Activity;Site_Name;Site_Country"


def test_an_excel_csv_with_a_byte_order_mark_semicolons_and_capitals_reads(tmp_path):
    """Excel's "CSV UTF-8" in a `;` locale: BOM, `;`, capitalised headers; rows
    numbered by their line, as the spreadsheet shows them."""
    rows = spreadsheet(
        tmp_path, "\ufeff" + HEADER + "\r\n" + ORIGIN_CELLS + "\r\n" + ORIGIN_CELLS.replace("ore-1", "ore-2")
    ).rows()
    assert [number for number, _ in rows] == [2, 3]
    statement = rows[0][1]
    assert statement["outputs"][0]["batch"] == "pilbara-mining:ore-1"
    assert statement["site"] == {"name": "Greenbushes", "country": "AU"}
    commas = spreadsheet(tmp_path, HEADER.replace(";", ",") + "\n" + ORIGIN_CELLS.replace(";", ",") + "\n").rows()
    assert commas[0][1] == statement


def test_an_unknown_column_is_one_error_for_the_file(tmp_path):
    with pytest.raises(ImportFailure, match=r"line 1: unknown column\(s\) colour, weight; the columns are type, "):
        spreadsheet(tmp_path, HEADER + ";Colour;Weight\n" + ORIGIN_CELLS + ";red;1\n").rows()


def test_a_latin_1_byte_names_its_line_and_what_to_do(tmp_path):
    text = HEADER + "\n" + ORIGIN_CELLS + "\n" + ORIGIN_CELLS.replace("Greenbushes", "Mina Cañón") + "\n"
    with pytest.raises(ImportFailure, match=r'line 3: byte 0xf1 is not UTF-8; save the file as "CSV UTF-8"'):
        spreadsheet(tmp_path, text, encoding="latin-1").rows()


def test_a_row_building_on_a_refused_row_names_it(miner):
    """The origin is refused in one batch; the next batch's transfer of its
    batch cannot fill prev, and says which row's refusal is the cause."""
    bad = 3  # lines: 1 the header, 2 and 3 a good lot, 4 the bad origin, 5 its transfer
    source = history_csv(miner.home / "history.csv", rows=bad + 1, bad=bad)
    summary = Importer(
        Client(miner.url, miner.token), keys.load(miner.key), source, issuer="pilbara-mining", batch_size=1
    ).run()
    assert summary.refusals == {"forbidden": 1, "invalid_row": 1}
    with (miner.home / "history.csv.refusals.csv").open() as handle:
        report = list(csv.DictReader(handle))
    assert report[1]["row"] == "5"
    batch = f"kansai-refining:lot-{bad}"
    assert report[1]["message"] == f"batch {batch} does not exist: row 4, which creates it, was refused"


def test_a_row_the_database_cannot_write_is_reported_and_retried_by_the_next_run(miner):
    """One row fails at the database: the import goes on, the journal records
    every other row, and the next run posts that row alone again."""
    from tests.hardening.poison import poisoned

    source = miner.home / "history.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["type", "batch", "material", "quantity", "unit", "value_added_usd", "minerals", "activity",
                         "site_name", "site_country", "to"])  # fmt: skip
        for lot, material in [("a", "ore"), ("b", "poison"), ("c", "ore")]:
            writer.writerow(["origin", f"pilbara-mining:{lot}", material, "5", "kg", "1", "lithium=1", "extraction",
                             "Pilgangoora", "AU", ""])  # fmt: skip
        writer.writerow(["transfer", "pilbara-mining:a", "", "", "", "", "", "", "", "", "kansai-refining"])
    with poisoned():
        first = miner.cairn_json("--issuer", "pilbara-mining", "import", str(source), expect=1)
    assert (first["created"], first["refusals"]) == (3, {"server_error": 1})
    assert logged_attestations().count() == 3
    second = miner.cairn_json("--issuer", "pilbara-mining", "import", str(source))
    assert (second["done_before"], second["created"], second["refusals"]) == (3, 4, {})
    assert Batch.objects.get(id="pilbara-mining:b").material == "poison"
    assert logged_attestations().count() == 4


def report_of(path) -> list[tuple[str, str, str]]:
    with path.open() as handle:
        return [(r["row"], r["status"], r["code"]) for r in csv.DictReader(handle)]


def test_validate_reports_what_the_import_then_refuses_and_appends_nothing(miner):
    """--validate: every row checked, in chunks whose rows build on earlier
    chunks' (batches of 99 split each origin from its transfer now and
    then); nothing appended, no journal; the import then refuses the same rows."""
    source = history_csv(miner.home / "history.csv", rows=1000)
    entries = Entry.objects.count()
    args = ("--issuer", "pilbara-mining", "import", str(source), "--batch-size", "99")
    checked = miner.cairn_json(*args, "--validate", expect=1)
    assert Entry.objects.count() == entries
    assert not (miner.home / "history.csv.cairn-journal.jsonl").exists()
    assert (checked["created"], checked["already_logged"]) == (998, 0)
    validation = report_of(miner.home / "history.csv.validation.csv")
    assert [row for row, _, _ in validation] == [str(BAD_ORIGIN_LINE), str(BAD_ORIGIN_LINE + 1)]
    assert validation[0][1:] == ("403", "forbidden")

    printed = miner.cairn(*args, "--validate", expect=1).stdout
    assert "1000 rows: 998 would be logged, 0 already logged, 2 refused; nothing was appended" in printed
    assert f"row {BAD_ORIGIN_LINE}: 403 forbidden: " in printed

    imported = miner.cairn_json(*args, expect=1)
    assert imported["created"] == 998 and imported["refusals"] == checked["refusals"]
    assert report_of(miner.home / "history.csv.refusals.csv") == validation
    again = miner.cairn_json(*args, "--validate", expect=1)  # what landed is answered as logged
    assert (again["created"], again["already_logged"], again["refusals"]) == (0, 998, checked["refusals"])
    assert Entry.objects.count() == entries + 998
