"""`cairn import --in-flight N`: several chunks posted at once. A row that
builds on an earlier chunk's row (a transfer or transform of a lot it
created) is sent only after that chunk was answered; an import stopped
with several chunks in flight resumes with nothing doubled and nothing lost."""

from __future__ import annotations

import base64
import csv
import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from cairn_core.client import Client, Importer, keys
from provenance.models import Batch, Entry
from tests.support import logged_attestations

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

COLUMNS = ["type", "batch", "material", "quantity", "unit", "value_added_usd", "minerals", "activity", "site_name",
           "site_country", "inputs", "to"]  # fmt: skip
CHUNK = 5


def origin(lot: str) -> list[str]:
    return ["origin", lot, "spodumene", "100", "kg", "120", "lithium=6", "extraction", "Pilgangoora", "AU", "", ""]


def transfer(lot: str) -> list[str]:
    return ["transfer", lot, "", "", "", "", "", "", "", "", "", "kansai-refining"]


def transform(lot: str, out: str) -> list[str]:
    return ["transform", out, "concentrate", "20", "kg", "300", "", "processing", "Kwinana", "AU", f"{lot}=100", ""]


def write_rows(path, rows: list[list[str]]):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def chained_csv(path, chunks: int):
    """Chunks of CHUNK rows: four origins, then a row building on a lot of
    the chunk two before (a transfer of its first lot, a transform of its
    second, in turn). Each chunk depends on the one two before it and not
    on the one just before, so two may be in flight but not three."""
    rows: list[list[str]] = []
    for k in range(chunks):
        lots = [f"pilbara-mining:c{k}-{n}" for n in range(4)]
        rows += [origin(lot) for lot in lots]
        if k < 2:
            rows.append(origin(f"pilbara-mining:c{k}-4"))
        elif k % 2 == 0:
            rows.append(transfer(f"pilbara-mining:c{k - 2}-0"))
        else:
            rows.append(transform(f"pilbara-mining:c{k - 2}-1", f"pilbara-mining:c{k}-out"))
    return write_rows(path, rows)


def pairs_csv(path, lots: int):
    """Each lot's origin and, on the next line, its transfer: chunks of an
    even size hold whole pairs, and build on no other chunk."""
    rows: list[list[str]] = []
    for n in range(lots):
        rows += [origin(f"pilbara-mining:lot-{n}"), transfer(f"pilbara-mining:lot-{n}")]
    return write_rows(path, rows)


def batches_of(envelope: dict) -> tuple[set[str], set[str]]:
    """(the batches the statement creates, the batches it builds on)."""
    statement = json.loads(base64.b64decode(envelope["payload"]))
    created = {output["batch"] for output in statement.get("outputs", [])}
    named = {item["batch"] for item in statement.get("inputs", [])}
    if statement["type"] == "transfer":
        named.add(statement["batch"])
    return created, named


@dataclass
class Post:
    """A batch request: when the importer sent it and when it had its answer."""

    creates: set[str]
    builds_on: set[str]
    sent: float
    answered: float = float("inf")


@dataclass
class SlowAnswers(httpx.BaseTransport):
    """Forwards to the server and hands each batch's answer back `delay`
    seconds late (a slow network), recording every request's times."""

    delay: float
    inner: httpx.HTTPTransport = field(default_factory=httpx.HTTPTransport)
    posts: list[Post] = field(default_factory=list)

    def handle_request(self, request):
        if not request.url.path.endswith("/attestations/batch"):
            return self.inner.handle_request(request)
        post = Post(set(), set(), time.monotonic())
        for envelope in json.loads(request.read())["envelopes"]:
            created, named = batches_of(envelope)
            post.creates |= created
            post.builds_on |= named
        self.posts.append(post)
        response = self.inner.handle_request(request)
        response.read()
        time.sleep(self.delay)
        post.answered = time.monotonic()
        return response


def most_at_once(posts: list[Post]) -> int:
    return max(sum(other.sent <= post.sent < other.answered for other in posts) for post in posts)


def test_a_row_is_sent_only_after_the_chunk_creating_its_batch_was_answered(miner):
    source = chained_csv(miner.home / "chained.csv", chunks=12)
    transport = SlowAnswers(delay=0.15)
    importer = Importer(
        Client(miner.url, miner.token, transport=transport),
        keys.load(miner.key),
        source,
        issuer="pilbara-mining",
        batch_size=CHUNK,
        in_flight=3,
    )
    summary = importer.run()
    assert (summary.as_dict()["created"], summary.refusals) == (12 * CHUNK, {})
    posts = transport.posts
    assert len(posts) == 12
    for post in posts:
        for batch in post.builds_on:
            (origin_post,) = [other for other in posts if batch in other.creates]
            assert origin_post.answered <= post.sent, f"{batch} was built on before its chunk was answered"
    # independent chunks did overlap: a chunk went while the one before was in flight
    assert most_at_once(posts) == 2
    assert Batch.objects.get(id="pilbara-mining:c0-0").custodian_id == "kansai-refining"
    assert Batch.objects.get(id="pilbara-mining:c3-out").material == "concentrate"


def test_independent_chunks_fill_the_pool_and_no_more(miner):
    source = pairs_csv(miner.home / "pairs.csv", lots=30)
    transport = SlowAnswers(delay=0.1)
    importer = Importer(
        Client(miner.url, miner.token, transport=transport),
        keys.load(miner.key),
        source,
        issuer="pilbara-mining",
        batch_size=6,
        in_flight=3,
    )
    assert importer.run().as_dict()["created"] == 60
    assert most_at_once(transport.posts) == 3


class KilledWithChunksInFlight(httpx.BaseTransport):
    """The first `landed` batches are answered; the next `in_flight` reach the
    server and are committed, and once all of them are there at once none
    of their answers comes back (the process killed while they were in
    flight). Nothing is sent after them."""

    def __init__(self, landed: int, in_flight: int) -> None:
        self.inner, self.landed, self.batches = httpx.HTTPTransport(), landed, 0
        self.lock = threading.Lock()
        self.together = threading.Barrier(in_flight, timeout=20)
        self.last = landed + in_flight

    def handle_request(self, request):
        if not request.url.path.endswith("/attestations/batch"):
            return self.inner.handle_request(request)
        with self.lock:
            self.batches += 1
            number = self.batches
        if number > self.last:
            raise httpx.ConnectError("killed", request=request)
        response = self.inner.handle_request(request)
        response.read()
        if number > self.landed:
            self.together.wait()  # every one of them in flight at once
            raise httpx.ReadError("killed", request=request)
        return response


def test_an_import_killed_with_chunks_in_flight_resumes_with_nothing_doubled_or_lost(miner):
    source = pairs_csv(miner.home / "pairs.csv", lots=50)
    importer = Importer(
        Client(miner.url, miner.token, transport=KilledWithChunksInFlight(landed=2, in_flight=3)),
        keys.load(miner.key),
        source,
        issuer="pilbara-mining",
        batch_size=10,
        in_flight=3,
    )
    with pytest.raises(Exception, match="killed"):
        importer.run()
    assert logged_attestations().count() == 50  # two batches answered, three landed unanswered
    journal = (miner.home / "pairs.csv.cairn-journal.jsonl").read_text()
    assert journal.count('"result"') == 20

    resumed = miner.cairn_json("--issuer", "pilbara-mining", "import", str(source), "--batch-size", "10")
    # counts are of every run's answers: the 20 answered before, then 30 posted again (200), 50 new
    assert (resumed["done_before"], resumed["already_logged"], resumed["created"]) == (20, 30, 20 + 50)
    assert resumed["refused"] == 0
    assert logged_attestations().count() == 100
    hashes = list(Entry.objects.values_list("entry_hash", flat=True))
    assert len(set(hashes)) == len(hashes)
    assert Batch.objects.filter(custodian_id="kansai-refining").count() == 50


def test_a_process_killed_mid_import_resumes_with_nothing_doubled_or_lost(miner):
    """SIGKILL to `cairn import --in-flight 4`, chunks of 10: nothing of the
    journal is written after it, whatever was in flight."""
    source = pairs_csv(miner.home / "pairs.csv", lots=200)
    journal = miner.home / "pairs.csv.cairn-journal.jsonl"
    command = [sys.executable, "-m", "cairn_core.client", "--issuer", "pilbara-mining", "import", str(source)]
    process = subprocess.Popen(
        [*command, "--batch-size", "10", "--in-flight", "4"],
        env=miner.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if journal.exists() and journal.read_text().count('"result"') >= 60:
                break
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    landed = logged_attestations().count()  # and more may land: the server goes on with what it was sent
    assert 60 <= landed < 400
    resumed = subprocess.run(
        [sys.executable, "-m", "cairn_core.client", "--json", *command[3:], "--in-flight", "4"],
        env=miner.env,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["rows"] == 400 and summary["refused"] == 0
    assert summary["already_logged"] + summary["created"] == 400  # every run's answers
    assert summary["done_before"] + summary["already_logged"] >= landed  # every row that landed known as landed
    assert logged_attestations().count() == 400
    hashes = list(Entry.objects.values_list("entry_hash", flat=True))
    assert len(set(hashes)) == len(hashes)
    assert Batch.objects.filter(custodian_id="kansai-refining").count() == 200


class RateLimitedThird(httpx.BaseTransport):
    """Forwards every request but the third batch, which is answered 429
    with Retry-After: 60 each time it is sent (a throttled server)."""

    def __init__(self) -> None:
        self.inner, self.batches, self.lock = httpx.HTTPTransport(), 0, threading.Lock()

    def handle_request(self, request):
        if request.url.path.endswith("/attestations/batch"):
            with self.lock:
                self.batches += 1
                number = self.batches
            if number == 3:
                body = {"error": {"code": "rate_limited", "message": "slow down"}}
                return httpx.Response(429, json=body, headers={"Retry-After": "60"})
        return self.inner.handle_request(request)


def test_ctrl_c_stops_at_once_a_chunk_waiting_out_a_rate_limit(miner):
    """Ctrl-C while one chunk in flight waits out a 60 s Retry-After: the
    import stops within seconds (the wait is given up, nothing new is
    posted), and the same command resumes with nothing doubled or lost."""
    source = pairs_csv(miner.home / "pairs.csv", lots=40)
    client = Client(miner.url, miner.token, transport=RateLimitedThird(), retry_rate_limited=5)
    main = threading.main_thread().ident
    # Ctrl-C, as the terminal sends it, once a chunk is waiting out the 429
    client.on_rate_limited = lambda seconds: signal.pthread_kill(main, signal.SIGINT)
    importer = Importer(client, keys.load(miner.key), source, issuer="pilbara-mining", batch_size=10, in_flight=3)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        importer.run()
    assert time.monotonic() - began < 15, "the import waited out the rate limit after Ctrl-C"
    assert logged_attestations().count() < 80

    resumed = miner.cairn_json("--issuer", "pilbara-mining", "import", str(source), "--batch-size", "10")
    assert resumed["refused"] == 0
    assert logged_attestations().count() == 80
    hashes = list(Entry.objects.values_list("entry_hash", flat=True))
    assert len(set(hashes)) == len(hashes)
