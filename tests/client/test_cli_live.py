"""`cairn` against a live Cairn: from a new key to a vehicle claim, every
refusal printed with its code, and proofs of what was logged."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from provenance.checkpoints import publish_checkpoint
from provenance.models import Batch, Claim, Entry

# serialized_rollback restores the reference data (critical minerals, rules)
# that the flush after each live-server test removes.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ORE = "pilbara-mining:ore-1"


def next_index() -> int:
    """The index the next entry gets: the log's size, ledger entries (the
    organisations' and keys' records, contract §12) included."""
    return Entry.objects.count()


def attestations():
    return Entry.objects.exclude(type="ledger")


def origin(batch: str = ORE, **fields) -> dict:
    statement = {
        "type": "origin",
        "issuer": "pilbara-mining",
        "activity": "extraction",
        "site": {"name": "Pilgangoora", "country": "AU"},
        "outputs": [
            {
                "batch": batch,
                "material": "spodumene concentrate",
                "quantity": "1000",
                "unit": "kg",
                "minerals": {"lithium": "60"},
                "value_added_usd": "1200",
            }
        ],
    }
    statement.update(fields)
    return statement


def test_from_keygen_to_a_claim(organization):
    miner = organization("pilbara-mining", "supplier")
    maker = organization("detroit-cells", "manufacturer", country="US")

    for party in (miner, maker):
        made = party.cairn_json("keygen", str(party.key))
        assert stat.S_IMODE(party.key.stat().st_mode) == 0o600
        key = load_pem_private_key(party.key.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        assert b"BEGIN PRIVATE KEY" in party.key.read_bytes()  # PKCS#8
        registered = party.cairn_json("key", "register")
        assert registered["keyid"] == made["keyid"] and registered["organization"] == party.slug

    # sign (issued_at filled), then post the envelope
    envelope = json.loads(miner.cairn("sign", str(miner.write("origin.json", origin()))).stdout)
    assert json.loads(__import__("base64").b64decode(envelope["payload"]))["issued_at"].endswith("Z")
    ore_at = next_index()
    posted = miner.cairn("post", str(miner.write("origin.dsse.json", envelope)))
    assert f"201 logged at index {ore_at}" in posted.stdout

    # a statement posted directly, its prev filled from the server's head
    transfer = {"type": "transfer", "issuer": "pilbara-mining", "batch": ORE, "to": maker.slug}
    moved = miner.cairn_json("post", "--fill-prev", str(miner.write("transfer.json", transfer)))
    assert moved["status"] == 201 and moved["entry"]["index"] == ore_at + 1
    assert Batch.objects.get(id=ORE).custodian_id == maker.slug

    # the manufacturer: a pack from the ore, then the claim, as JSON Lines on stdin
    pack = {
        "type": "transform",
        "issuer": maker.slug,
        "activity": "assembly",
        "site": {"name": "Detroit", "country": "US"},
        "inputs": [{"batch": ORE, "quantity": "500"}],
        "outputs": [
            {"batch": "detroit-cells:pack-1", "material": "battery pack", "quantity": "1", "unit": "unit",
             "component": "battery_pack", "value_added_usd": "9000"}
        ],
    }  # fmt: skip
    claim = {
        "type": "claim",
        "issuer": maker.slug,
        "batch": "detroit-cells:pack-1",
        "quantity": "1",
        "vin": "5YJ3E1EA7KF317000",
        "acquired": "2024-06-01",
        "placed_in_service": "2024-06-15",
        "final_assembly": {"name": "Detroit", "country": "US"},
    }
    lines = json.dumps(pack) + "\n" + json.dumps(claim) + "\n"
    pack_at = next_index()
    claim_at = pack_at + 1
    done = maker.cairn("post", "--fill-prev", input=lines)
    assert f"stdin:1: 201 logged at index {pack_at}" in done.stdout
    assert f"stdin:2: 201 logged at index {claim_at}" in done.stdout
    assert Claim.objects.get().vin == "5YJ3E1EA7KF317000"

    # reads
    shown = maker.cairn("batch", ORE).stdout
    assert f"batch {ORE}: spodumene concentrate, 1000 kg (500 remaining)" in shown
    assert "custodian detroit-cells" in shown and f"#{pack_at} transform" in shown
    upstream = maker.cairn_json("provenance", "detroit-cells:pack-1")
    assert upstream["origins"][0]["batch"] == ORE
    assert "origin pilbara-mining:ore-1 (AU): lithium" in maker.cairn("provenance", "detroit-cells:pack-1").stdout
    entry = maker.cairn_json("entry", str(claim_at))
    assert entry["statement"]["vin"] == "5YJ3E1EA7KF317000"
    assert f"entry {claim_at}: claim by detroit-cells" in maker.cairn("entry", str(claim_at)).stdout

    # prove: inclusion under a signed checkpoint, then consistency on the next call
    size = next_index()
    assert size == claim_at + 1
    publish_checkpoint()
    proven = maker.cairn("prove", str(claim_at))
    assert f"entry {claim_at} is in the log" in proven.stdout and f"size {size}" in proven.stdout
    assert "first checkpoint of this log seen here" in proven.stdout
    again = miner.cairn_json("post", str(miner.write("o2.json", origin("pilbara-mining:ore-2"))))
    assert again["entry"]["index"] == size
    publish_checkpoint()
    proof = maker.home / f"{claim_at}.proof"
    later = maker.cairn_json("prove", str(claim_at), "--proof-out", str(proof))
    assert later["previous"]["tree_size"] == size and later["checkpoint"]["tree_size"] == size + 1
    assert proof.read_text().startswith(f"c2sp.org/tlog-proof@v1\nindex {claim_at}\n")
    assert miner.cairn_json("prove", str(ore_at))["checkpoint"]["tree_size"] == size + 1

    # the same envelope again is a 200; a revoked key signs nothing more
    assert f"200 already logged at index {ore_at}" in miner.cairn("post", str(miner.home / "origin.dsse.json")).stdout
    revoked = miner.cairn_json("key", "revoke")
    assert revoked["revoked_at"]
    assert Entry.objects.filter(type="ledger", statement__type="key_revoked").count() == 1  # in the log (§12)
    logged = Entry.objects.count()
    refused = miner.cairn("post", str(miner.write("o3.json", origin("pilbara-mining:ore-3"))), expect=1)
    assert "refused 403 key_not_valid:" in refused.stdout
    assert Entry.objects.count() == logged
    assert attestations().count() == 5


def test_every_refusal_is_printed_with_its_code(organization):
    miner = organization("pilbara-mining", "supplier")
    organization("kansai-refining", "supplier", country="JP")
    miner.cairn("keygen", str(miner.key))
    miner.cairn("key", "register")
    ore_at = next_index()
    miner.cairn("post", str(miner.write("ore.json", origin())))
    stale = {"type": "transfer", "issuer": "pilbara-mining", "batch": ORE, "prev": "b" * 64, "to": "kansai-refining"}
    items = [
        origin(activity="recycling"),  # the same batch id again
        {**stale, "to": "nobody-at-all"},
        stale,
        origin("kansai-refining:x"),
        {**stale, "batch": "pilbara-mining:ghost", "to": "kansai-refining"},
        origin("pilbara-mining:late", issued_at="2020-01-01T00:00:00Z"),
    ]  # fmt: skip
    result = miner.cairn("post", input="".join(json.dumps(item) + "\n" for item in items), expect=1)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("stdin:1: refused 409 batch_exists: ")
    assert lines[1].startswith("stdin:2: refused 400 invalid_payload: ")
    assert lines[2].startswith("stdin:3: refused 409 stale_head: ")
    assert f"(head: {Batch.objects.get(id=ORE).head})" in lines[2]
    assert lines[3].startswith("stdin:4: refused 403 forbidden: ")
    assert lines[4].startswith("stdin:5: refused 404 unknown_batch: ")
    assert lines[5].startswith("stdin:6: refused 400 clock_skew: ")
    as_json = [
        json.loads(line)
        for line in miner.cairn("--json", "post", input=json.dumps(items[0]), expect=1).stdout.splitlines()
    ]
    assert as_json == [{"source": "stdin:1", "status": 409, "error": as_json[0]["error"]}]
    assert as_json[0]["error"]["code"] == "batch_exists"
    # errors of the request itself: exit 1 with the code, on stderr (and stdout with --json)
    bad = organization("other-co", "supplier")
    bad.token = "not-a-token"
    denied = bad.cairn("batch", ORE, expect=1)
    assert "error: not_authenticated (HTTP 401):" in denied.stderr
    assert bad.cairn_json("batch", ORE, expect=1)["error"]["code"] == "not_authenticated"
    hidden = organization("third-co", "supplier").cairn("entry", str(ore_at), expect=1)
    assert "error: not_found (HTTP 404):" in hidden.stderr
    assert attestations().count() == 1
    assert attestations().get().index == ore_at


def test_the_console_script_runs_as_a_program(organization):
    """The installed entry point, in its own process (no test harness)."""
    miner = organization("pilbara-mining", "supplier")
    done = subprocess.run(
        [sys.executable, "-m", "cairn_core.client", "keygen", str(miner.key)],
        env={**miner.env, "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "mode 0600" in done.stdout
    registered = subprocess.run(
        [sys.executable, "-m", "cairn_core.client", "--json", "key", "register"],
        env=miner.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["organization"] == "pilbara-mining"


def test_a_supplier_lists_its_entries_batches_and_keys(organization):
    """`cairn entries`, `cairn batches`, `cairn key list` (contract §5, v1.2):
    what the supplier posted, and nothing of another supplier's."""
    miner = organization("pilbara-mining", "supplier")
    other = organization("other-supplier", "supplier", country="CL")
    for party in (miner, other):
        party.cairn("keygen", str(party.key))
        party.cairn("key", "register")
    for number in range(3):
        miner.cairn("post", str(miner.write(f"o{number}.json", origin(f"pilbara-mining:ore-{number}"))))
    other.cairn("post", str(other.write("o.json", origin("other-supplier:ore-1", issuer="other-supplier"))))

    listed = miner.cairn_json("entries", "--limit", "2")
    assert len(listed["entries"]) == 2 and listed["next"] is not None
    everything = miner.cairn_json("entries", "--all")["entries"]
    ours = list(attestations().filter(issuer="pilbara-mining").order_by("index").values_list("index", flat=True))
    assert [item["index"] for item in everything if item["index"] in ours] == ours
    assert not {item["index"] for item in everything} & set(
        attestations().filter(issuer="other-supplier").values_list("index", flat=True)
    )
    assert "more: cairn entries --after" in miner.cairn("entries", "--limit", "1").stdout

    held = miner.cairn_json("batches", "--all")["batches"]
    assert [b["id"] for b in held] == [f"pilbara-mining:ore-{n}" for n in range(3)]
    assert "pilbara-mining:ore-0: spodumene concentrate, 1000 of 1000 kg" in miner.cairn("batches").stdout
    refused = miner.cairn("batches", "--custodian", "other-supplier", expect=1)
    assert "forbidden" in refused.output

    keys = miner.cairn_json("key", "list")["keys"]
    assert [key["keyid"] for key in keys] == [miner.cairn_json("key", "register")["keyid"]]
    assert "valid" in miner.cairn("key", "list").stdout


def test_the_sdk_example_runs_as_the_readme_gives_it(organization, live_server):
    """examples/sdk_quickstart.py: a key, an origin, a batch that creates a
    batch and transfers it (chain=True), and the supplier's lists."""
    import os
    from pathlib import Path

    miner = organization("greenbushes-lithium", "supplier")
    organization("kansai-refining", "supplier", country="JP")
    example = Path(__file__).resolve().parents[2] / "examples" / "sdk_quickstart.py"
    env = {**os.environ, "CAIRN_URL": live_server.url, "CAIRN_TOKEN": miner.token}
    env |= {"CAIRN_ISSUER": miner.slug, "CAIRN_KEY": str(miner.key), "CAIRN_RECEIVER": "kansai-refining"}
    done = subprocess.run([sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("logged at index") == 3
    moved = Batch.objects.get(id__endswith="-2", id__startswith="greenbushes-lithium:ore-")
    assert moved.custodian_id == "kansai-refining"
    transfer = Entry.objects.get(type="transfer")
    assert transfer.statement["prev"] == Entry.objects.get(index=transfer.index - 1).entry_hash
    assert "greenbushes-lithium:ore-" in done.stdout and "with greenbushes-lithium" in done.stdout


def test_sign_and_post_refuse_what_the_grammar_refuses_before_signing(organization):
    miner = organization("pilbara-mining", "supplier")
    miner.cairn("keygen", str(miner.key))
    miner.cairn("key", "register")
    before = Entry.objects.count()
    bad = origin(site={"name": "Green\u202ebushes", "country": "AU"})
    refused = miner.cairn("sign", str(miner.write("bad.json", bad)), expect=1)
    assert "invalid_payload" in refused.output and "not signed" in refused.output and "U+202E" in refused.output
    assert "payloadType" not in refused.output  # nothing was signed
    posted = miner.cairn("post", str(miner.write("bad2.json", origin(outputs=[]))), expect=1)
    assert "refused 400 invalid_payload: Invalid payload (not signed)" in posted.output
    assert Entry.objects.count() == before


def test_a_receiver_cosigns_an_envelope_signed_elsewhere(organization):
    """`cairn cosign`: the sender signs a transfer, the receiver adds its
    signature to that very envelope, the sender posts it: both are named."""
    miner = organization("pilbara-mining", "supplier")
    maker = organization("detroit-cells", "manufacturer", country="US")
    for party in (miner, maker):
        party.cairn("keygen", str(party.key))
        party.cairn("key", "register")
    miner.cairn("post", str(miner.write("origin.json", origin())))
    transfer = {"type": "transfer", "issuer": "pilbara-mining", "batch": ORE, "to": maker.slug}
    signed = miner.cairn(
        "sign", "--fill-prev", "-o", str(miner.home / "t.dsse.json"), str(miner.write("t.json", transfer))
    )
    assert "wrote" in signed.output
    cosigned = maker.cairn("cosign", str(miner.home / "t.dsse.json"), "-o", str(maker.home / "t2.dsse.json"))
    assert "co-signed transfer by pilbara-mining" in cosigned.output
    again = maker.cairn("cosign", str(maker.home / "t2.dsse.json"), expect=2)
    assert "has signed this envelope already" in again.output
    first = json.loads((miner.home / "t.dsse.json").read_text())
    second = json.loads((maker.home / "t2.dsse.json").read_text())
    assert second["payload"] == first["payload"] and len(second["signatures"]) == 2
    posted = miner.cairn_json("post", str(maker.home / "t2.dsse.json"))
    assert posted["status"] == 201
    assert miner.cairn_json("entry", str(posted["entry"]["index"]))["cosigners"] == [maker.slug]


def test_a_statement_signed_by_the_javascript_example_is_logged(organization, live_server):
    """examples/sign.mjs (Node's built-in crypto, no packages) signs an
    envelope the server logs: its keyid, PAE and base64 are the contract's."""
    import shutil
    import urllib.request
    from pathlib import Path

    from django.utils import timezone

    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    miner = organization("pilbara-mining", "supplier")
    made = miner.cairn_json("keygen", str(miner.key))
    miner.cairn("key", "register")
    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    statement = {"schema": "cairn.attestation/v1", "issued_at": now, **origin()}
    example = Path(__file__).resolve().parents[2] / "examples" / "sign.mjs"
    signed = subprocess.run(
        [node, str(example), str(miner.write("s.json", statement)), str(miner.key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    envelope = json.loads(signed.stdout)
    assert envelope["signatures"][0]["keyid"] == made["keyid"]
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/attestations",
        data=signed.stdout.encode(),
        headers={"Authorization": f"Token {miner.token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        receipt = json.loads(answer.read())
        assert answer.status == 201
    assert Entry.objects.get(index=receipt["index"]).issuer_id == "pilbara-mining"


def test_posting_a_statement_again_sends_what_was_signed_the_first_time(organization):
    """`cairn post` is safe to retry: the second run sends the envelope the
    first signed (the ledger answers 200, the same receipt), not a new
    statement with a new issued_at; a refusal is forgotten, so a corrected
    statement is signed afresh."""
    miner = organization("pilbara-mining", "supplier")
    miner.cairn("keygen", str(miner.key))
    miner.cairn("key", "register")
    path = miner.write("origin.json", origin())
    first = miner.cairn_json("post", str(path))
    again = miner.cairn_json("post", str(path))
    assert (first["status"], again["status"]) == (201, 200)
    assert again["entry"] == first["entry"]
    assert attestations().filter(type="origin").count() == 1

    transfer = miner.write(
        "transfer.json", {"type": "transfer", "issuer": "pilbara-mining", "batch": ORE, "to": "nobody-here"}
    )
    assert miner.cairn_json("post", "--fill-prev", str(transfer), expect=1)["status"] == 400
    assert len(list((miner.home / "signed").glob("*.json"))) == 1  # the origin's: the refused one is forgotten


def test_what_the_ledger_holds_is_printed_with_unprintable_characters_escaped(organization):
    """A batch's material logged before the grammar refused control and bidi
    characters (v1.2) is shown escaped, never sent raw to the terminal."""
    miner = organization("pilbara-mining", "supplier")
    miner.cairn("keygen", str(miner.key))
    miner.cairn("key", "register")
    miner.cairn("post", str(miner.write("origin.json", origin())))
    Batch.objects.filter(id=ORE).update(material="spodumene\x1b[8m NOT\u202e")  # as an old entry could hold
    shown = miner.cairn("batch", ORE).output
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "spodumene\\x1b[8m NOT\\u202e" in shown
    assert miner.cairn_json("batch", ORE)["material"] == "spodumene\x1b[8m NOT\u202e"  # JSON stays exact
