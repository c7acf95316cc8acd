"""provenance.append.sql: rows written in one go read back exactly as the ORM
would have stored them, on PostgreSQL (one JSON document) and on SQLite."""

import datetime as dt
from decimal import Decimal

import pytest

from provenance.append import rows, sql
from provenance.models import Batch, Entry, EntrySignature, LogState, MerkleNode
from provenance.organizations import create_organization

pytestmark = pytest.mark.django_db

TOKYO = dt.timezone(dt.timedelta(hours=9))
WHEN = dt.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=TOKYO)
ENVELOPE = '{"payload":"e30=","quote":"\\"","é":"\\u00e9"}'
STATEMENT = {"text": 'quote " backslash \\ é ✓', "numbers": [1, 1.5, None, True], "nested": {"k": []}}


def entry_row(index: int, issuer: str, submitted_by=None) -> tuple:
    return (
        index,
        f"{index:064x}",
        ENVELOPE,
        1_700_000_000,
        "ab" * 32,
        "origin",
        issuer,
        WHEN,
        WHEN,
        STATEMENT,
        submitted_by,
    )


def batch_row(batch_id: str, owner: str, created_by: int) -> tuple:
    return (
        batch_id,
        owner,
        'ore "grade A"',
        "kg",
        Decimal("123456789012345678901.123456789"),
        Decimal("0.000000001"),
        owner,
        "cd" * 32,
        created_by,
        "JP",
        {"lithium": "60.5"},
        ["lithium", "nickel"],
        Decimal("0.000001"),
        "",
    )


def everything(**given) -> dict:
    tables = [
        ("entries", rows.ENTRY),
        ("signatures", rows.SIGNATURE),
        ("batches", rows.BATCH),
        ("links", rows.LINK),
        ("claims", rows.CLAIM),
        ("nodes", rows.NODE),
        ("agreement_links", rows.AGREEMENT_LINK),
    ]
    return {"inserts": [(target, given.get(name, [])) for name, target in tables]}


def fields_of(obj, *leave_out: str) -> dict:
    return {
        field.attname: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if field.attname not in leave_out
    }


def next_index() -> int:
    """The log's next index: creating an organisation appends ledger entries
    (contract §12), so the rows written here come after them."""
    return LogState.objects.get(id=1).size


def test_inserted_rows_equal_what_the_orm_stores():
    org, _ = create_organization(slug="kansai", name="Kansai", country="JP", roles=["supplier"])
    key = org.keys.create(keyid="k" * 64, public_key=b"\0" * 32, registered_at=WHEN)
    first = next_index()
    sql.write(
        **everything(
            entries=[entry_row(first, org.slug), entry_row(first + 1, org.slug)],
            signatures=[(first, key.keyid, org.slug, True), (first + 1, key.keyid, org.slug, False)],
            batches=[batch_row("kansai:b1", org.slug, first)],
            nodes=[(MerkleNode.node_id(1, first), "ef" * 32)],  # a level-1 node past the log's end
        )
    )
    by_orm = Entry.objects.create(
        **dict(zip([f.attname for f in rows.ENTRY.fields], entry_row(first + 9, org.slug), strict=True))
    )
    Batch.objects.create(
        **dict(zip([f.attname for f in rows.BATCH.fields], batch_row("kansai:orm", org.slug, first + 9), strict=True))
    )
    by_orm_batch = Batch.objects.get(id="kansai:orm")
    entry, batch = Entry.objects.get(index=first + 1), Batch.objects.get(id="kansai:b1")
    assert fields_of(entry, "index", "entry_hash") == fields_of(Entry.objects.get(pk=by_orm.pk), "index", "entry_hash")
    assert fields_of(batch, "id", "created_by_id") == fields_of(by_orm_batch, "id", "created_by_id")
    assert (entry.envelope, entry.statement, entry.issued_at, entry.submitted_by_id) == (
        ENVELOPE,
        STATEMENT,
        WHEN,
        None,
    )
    assert entry.issued_at.astimezone(dt.UTC).microsecond == 123456
    assert list(EntrySignature.objects.order_by("entry_id").values_list("is_issuer", flat=True)) == [True, False]
    assert (batch.material, batch.minerals, batch.carries, batch.created_by_id, batch.site_country.code) == (
        'ore "grade A"',
        {"lithium": "60.5"},
        ["lithium", "nickel"],
        first,
        "JP",
    )


def test_decimals_are_exact():
    org, _ = create_organization(slug="kansai", name="Kansai", country="JP", roles=["supplier"])
    first = next_index()
    sql.write(**everything(entries=[entry_row(first, org.slug)], batches=[batch_row("kansai:b1", org.slug, first)]))
    batch = Batch.objects.get(id="kansai:b1")
    assert batch.quantity == Decimal("123456789012345678901.123456789")
    assert batch.consumed == Decimal("0.000000001")
    assert batch.value_added_usd == Decimal("0.000001")


def test_updates_set_only_the_named_rows():
    org, _ = create_organization(slug="kansai", name="Kansai", country="JP", roles=["supplier"])
    other, _ = create_organization(slug="osaka", name="Osaka", country="JP", roles=["supplier"])
    first = next_index()
    sql.write(
        **everything(
            entries=[entry_row(first, org.slug)],
            batches=[batch_row("kansai:b1", org.slug, first), batch_row("kansai:b2", org.slug, first)],
        )
    )
    LogState.objects.get_or_create(id=1)
    sql.write(
        **everything(),
        updates=[
            (rows.BATCH_HEAD, [("kansai:b2", "12" * 32, Decimal("7.25"), other.slug)]),
            (rows.LOG_STATE, [(1, 5, ["aa" * 32, "bb" * 32])]),
        ],
    )
    changed, unchanged = Batch.objects.get(id="kansai:b2"), Batch.objects.get(id="kansai:b1")
    assert (changed.head, changed.consumed, changed.custodian_id) == ("12" * 32, Decimal("7.25"), "osaka")
    assert (unchanged.head, unchanged.consumed, unchanged.custodian_id) == ("cd" * 32, Decimal("0.000000001"), "kansai")
    state = LogState.objects.get(id=1)
    assert (state.size, state.frontier) == (5, ["aa" * 32, "bb" * 32])


def test_nothing_to_write_sends_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        sql.write(**everything(), updates=[(rows.LOG_STATE, [])])
