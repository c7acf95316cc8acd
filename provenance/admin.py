"""Admin for the ledger: read-only for everyone, superusers included.

Ledger rows (entries, signatures, batch links, claims, Merkle nodes,
checkpoints) are append-only, and the state tables (organisations, members,
keys, batches, the log's tail) are written only by the services that keep
them consistent with the ledger: `create_org` and the API create
organisations and keys, `provenance.append.checks` moves batches and the log. So
the admin never adds, changes or deletes any of them; it shows them, with
links between related pages. The one write offered is revoking a signing
key, an action that calls the same service as the API
(`provenance.keys.revoke_key`) and is open to superusers only.
"""

from __future__ import annotations

import base64
import binascii
import json

from django.contrib import admin, messages
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from provenance import models
from provenance.entry_check import check_entry
from provenance.errors import LedgerError
from provenance.keys import revoke_key
from provenance.linking import links_for_entries

# How many related rows a detail page lists before pointing to a filtered list.
RELATED_SHOWN = 50


# --- links between admin pages ------------------------------------------------


def admin_link(viewname: str, pk: object, text: object) -> str:
    """<a> to an admin page, or the bare text when the page is not registered."""
    try:
        url = reverse(viewname, args=[pk])
    except NoReverseMatch:
        return format_html("{}", text)
    return format_html('<a href="{}">{}</a>', url, text)


def entry_link(index: int | None, text: object = None) -> str:
    if index is None:
        return "-"
    return admin_link("admin:provenance_entry_change", index, text or f"#{index}")


def batch_link(batch_id: str | None) -> str:
    if not batch_id:
        return "-"
    return admin_link("admin:provenance_batch_change", batch_id, batch_id)


def agreement_link(slug: str) -> str:
    return admin_link("admin:agreements_tradeagreement_change", slug, slug)


def changelist_link(viewname: str, query: str, text: str) -> str:
    return format_html('<a href="{}?{}">{}</a>', reverse(viewname), query, text)


def pretty_json(value: object) -> str:
    return format_html('<pre class="cairn-json">{}</pre>', json.dumps(value, indent=2))


def decoded_payload(entry: models.Entry) -> object:
    """The signed payload bytes of an entry's envelope, parsed (or as text)."""
    try:
        raw = base64.b64decode(json.loads(entry.envelope)["payload"])
        return json.loads(raw)
    except (KeyError, ValueError, binascii.Error):
        return entry.envelope


# --- filters ------------------------------------------------------------------


def countries_in_use(field_name: str, title: str) -> type[admin.SimpleListFilter]:
    """A filter on a CountryField offering only the countries that occur."""

    class CountryInUseFilter(admin.SimpleListFilter):
        parameter_name = field_name

        def lookups(self, request, model_admin):
            codes = model_admin.model.objects.order_by().values_list(field_name, flat=True).distinct()
            return sorted((str(code), str(code)) for code in codes if code)

        def queryset(self, request, queryset):
            return queryset.filter(**{field_name: self.value()}) if self.value() else queryset

    CountryInUseFilter.title = title
    return CountryInUseFilter


# --- read-only base -----------------------------------------------------------


class ReadOnlyAdminMixin:
    """No add, change or delete, whoever asks (superusers included)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Shows, never writes: no add, change or delete, whoever asks."""

    list_per_page = 50

    class Media:
        css = {"all": ["provenance/ledger_admin.css"]}


# --- identities ---------------------------------------------------------------


class MemberInline(admin.TabularInline):
    model = models.Member
    fields = ["user"]
    readonly_fields = ["user"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.Organization)
class OrganizationAdmin(LedgerAdmin):
    list_display = ["slug", "name", "country", "role_list", "created_at"]
    list_filter = [countries_in_use("country", "country")]
    search_fields = ["slug", "name"]
    inlines = [MemberInline]
    fields = ["slug", "name", "country", "roles", "created_at", "keys", "activity"]
    readonly_fields = ["keys", "activity"]

    @admin.display(description="roles")
    def role_list(self, org):
        return ", ".join(org.roles)

    @admin.display(description="signing keys")
    def keys(self, org):
        rows = format_html_join(
            "",
            "<li>{} registered {}{}</li>",
            (
                (
                    admin_link("admin:provenance_signingkey_change", key.keyid, key.keyid),
                    key.registered_at,
                    f", revoked {key.revoked_at}" if key.revoked_at else "",
                )
                for key in org.keys.all()
            ),
        )
        return format_html("<ul>{}</ul>", rows) if rows else "None"

    @admin.display(description="ledger")
    def activity(self, org):
        return format_html(
            "{} · {} · {}",
            changelist_link(
                "admin:provenance_entry_changelist",
                f"issuer__slug__exact={org.slug}",
                "entries issued",
            ),
            changelist_link(
                "admin:provenance_batch_changelist",
                f"custodian__slug__exact={org.slug}",
                "batches held",
            ),
            changelist_link(
                "admin:provenance_claim_changelist",
                f"manufacturer__slug__exact={org.slug}",
                "claims",
            ),
        )


@admin.register(models.Member)
class MemberAdmin(LedgerAdmin):
    list_display = ["user", "organization"]
    list_select_related = ["user", "organization"]
    list_filter = ["organization"]
    search_fields = ["user__username", "organization__slug"]


@admin.register(models.SigningKey)
class SigningKeyAdmin(LedgerAdmin):
    list_display = ["keyid", "organization", "registered_at", "revoked_at"]
    list_select_related = ["organization"]
    list_filter = ["organization", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["^keyid", "organization__slug"]
    fields = ["keyid", "organization", "public_key_b64", "registered_at", "registered_by"]
    fields += ["revoked_at", "revoked_by"]
    readonly_fields = ["public_key_b64"]
    actions = ["revoke"]

    @admin.display(description="public key (base64)")
    def public_key_b64(self, key):
        return base64.b64encode(bytes(key.public_key)).decode("ascii")

    def has_revoke_permission(self, request):
        return request.user.is_superuser

    @admin.action(description="Revoke the selected keys from now on", permissions=["revoke"])
    def revoke(self, request, queryset):
        for key in queryset:
            try:
                revoke_key(organization=key.organization, keyid=key.keyid, acting_user=request.user)
            except LedgerError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


# --- batches and entries ------------------------------------------------------


# Not registered here: audit.admin registers it with the batch's §45X pages
# (audit/admin/macr.py), which only the audit app can build.
class BatchAdmin(LedgerAdmin):
    list_display = [
        "id",
        "material",
        "quantity",
        "remaining_quantity",
        "unit",
        "custodian",
        "site_country",
        "component",
        "mineral_list",
        "created_by_link",
    ]
    list_select_related = ["custodian"]
    list_filter = [
        "component",
        countries_in_use("site_country", "site country"),
        "unit",
        ("custodian", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["id", "material"]
    fields = [
        "id",
        "material",
        ("quantity", "consumed", "unit"),
        ("owner", "custodian"),
        "site_country",
        "component",
        "minerals",
        "carries",
        "value_added_usd",
        "created_by_link",
        "head_link",
        "history",
        "claims_of_batch",
    ]
    readonly_fields = ["created_by_link", "head_link", "history", "claims_of_batch"]

    @admin.display(description="remaining", ordering=F("quantity") - F("consumed"))
    def remaining_quantity(self, batch):
        return batch.remaining

    @admin.display(description="minerals")
    def mineral_list(self, batch):
        return ", ".join(batch.carries)

    @admin.display(description="created by", ordering="created_by_id")
    def created_by_link(self, batch):
        return entry_link(batch.created_by_id)

    @admin.display(description="head")
    def head_link(self, batch):
        index = models.Entry.objects.filter(entry_hash=batch.head).values_list("index", flat=True)
        return format_html("{} {}", entry_link(index.first()), batch.head)

    @admin.display(description="entries touching this batch (its hash chain)")
    def history(self, batch):
        links = batch.links.select_related("entry").order_by("entry_id")[:RELATED_SHOWN]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    entry_link(link.entry_id),
                    link.entry.type,
                    link.role,
                    link.quantity if link.quantity is not None else "",
                    link.custodian_after_id,
                    link.entry.occurred_at.date(),
                )
                for link in links
            ),
        )
        return format_html(
            "<table><tr><th>entry</th><th>type</th><th>role</th><th>quantity</th>"
            "<th>custodian after</th><th>occurred</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="claims")
    def claims_of_batch(self, batch):
        claims = list(batch.claims.values_list("vin", flat=True))
        if not claims:
            return "None"
        return format_html_join(
            ", ", "{}", ((admin_link("admin:provenance_claim_change", vin, vin),) for vin in claims)
        )


class SignatureInline(admin.TabularInline):
    model = models.EntrySignature
    fields = readonly_fields = ("key", "organization", "is_issuer")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class BatchLinkInline(admin.TabularInline):
    model = models.BatchLink
    fields = readonly_fields = ("batch_ref", "role", "prev_ref", "quantity", "custodian_before", "custodian_after")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="batch")
    def batch_ref(self, link):
        return batch_link(link.batch_id)

    @admin.display(description="prev (head before)")
    def prev_ref(self, link):
        if not link.prev:
            return "-"
        index = models.Entry.objects.filter(entry_hash=link.prev).values_list("index", flat=True)
        return format_html("{} {}…", entry_link(index.first()), link.prev[:16])


@admin.register(models.Entry)
class EntryAdmin(LedgerAdmin):
    list_display = ["index", "type", "issuer", "occurred_at", "issued_at", "short_hash"]
    list_select_related = ["issuer"]
    list_filter = ["type", ("issuer", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["=index", "^entry_hash", "batch_links__batch__id"]
    date_hierarchy = "occurred_at"
    inlines = [SignatureInline, BatchLinkInline]
    fieldsets = [
        (None, {"fields": ["index", "type", "issuer", "issued_at", "occurred_at", "integrated"]}),
        ("Hashes", {"fields": ["entry_hash", "leaf_hash"]}),
        ("Payload, and whether it is the signed one", {"fields": ["signature_check", "payload"]}),
        ("Related", {"fields": ["created", "agreements", "claim_ref", "submitted_by"]}),
        ("Stored envelope", {"fields": ["envelope"], "classes": ["collapse"]}),
    ]
    readonly_fields = ["integrated", "signature_check", "payload", "created", "agreements", "claim_ref"]

    @admin.display(description="entry hash")
    def short_hash(self, entry):
        return f"{entry.entry_hash[:16]}…"

    @admin.display(description="integrated")
    def integrated(self, entry):
        return f"{entry.integrated_at:%Y-%m-%d %H:%M:%S} UTC ({entry.integrated_time})"

    @admin.display(description="checked now")
    def signature_check(self, entry):
        """The page says "signed" only of bytes whose signatures and inclusion verify now."""
        found = check_entry(entry)
        if found.verified:
            return format_html(
                '<span class="cairn-signature-ok" id="cairn-signature-check">Signed: every signature verifies over '
                "these stored bytes, by keys valid when logged, and the entry is in the signed checkpoint of "
                "size {}.</span>",
                found.checkpoint,
            )
        if not found.problems:
            return format_html(
                '<span id="cairn-signature-check">Signatures verify; not yet under a signed checkpoint.</span>'
            )
        return format_html(
            '<div class="cairn-integrity-warning" id="cairn-signature-check"><strong>Not the signed payload.</strong> '
            "The stored entry fails its checks: {}. The payload below is what is stored now, not what was "
            "signed and logged.</div>",
            "; ".join(problem.message for problem in found.problems),
        )

    @admin.display(description="payload (decoded from the stored envelope)")
    def payload(self, entry):
        return pretty_json(decoded_payload(entry))

    @admin.display(description="batches created")
    def created(self, entry):
        ids = entry.created_batches.values_list("id", flat=True)
        return format_html_join(", ", "{}", ((batch_link(batch_id),) for batch_id in ids)) or "None"

    @admin.display(description="agreements relied on")
    def agreements(self, entry):
        links = links_for_entries([entry.index])[entry.index]
        if not links:
            return "None"
        return format_html_join(
            "",
            "<div>{} makes {} count for {}</div>",
            ((agreement_link(link["agreement"]), link["country"], link["mineral"]) for link in links),
        )

    @admin.display(description="claim")
    def claim_ref(self, entry):
        vin = models.Claim.objects.filter(entry=entry).values_list("vin", flat=True).first()
        return admin_link("admin:provenance_claim_change", vin, vin) if vin else "-"


@admin.register(models.EntrySignature)
class EntrySignatureAdmin(LedgerAdmin):
    list_display = ["id", "entry_ref", "key", "organization", "is_issuer"]
    list_select_related = ["key", "organization"]
    list_filter = ["is_issuer", "organization"]
    search_fields = ["=entry__index", "^key__keyid"]

    @admin.display(description="entry", ordering="entry_id")
    def entry_ref(self, signature):
        return entry_link(signature.entry_id)


@admin.register(models.BatchLink)
class BatchLinkAdmin(LedgerAdmin):
    list_display = [
        "id",
        "entry_ref",
        "batch_ref",
        "role",
        "quantity",
        "custodian_before",
        "custodian_after",
    ]
    list_select_related = ["custodian_before", "custodian_after"]
    list_filter = ["role"]
    search_fields = ["=entry__index", "batch__id"]

    @admin.display(description="entry", ordering="entry_id")
    def entry_ref(self, link):
        return entry_link(link.entry_id)

    @admin.display(description="batch", ordering="batch_id")
    def batch_ref(self, link):
        return batch_link(link.batch_id)


# Not registered here: the claims' page is the auditors' (audit.admin.verdicts
# AuditorClaimAdmin extends this class with the verdicts, and audit's admin
# module registers it).
class ClaimAdmin(LedgerAdmin):
    list_display = [
        "vin",
        "manufacturer",
        "acquired",
        "placed_in_service",
        "final_assembly_country",
        "batch_ref",
        "entry_ref",
    ]
    list_select_related = ["manufacturer"]
    list_filter = [
        ("manufacturer", admin.RelatedOnlyFieldListFilter),
        countries_in_use("final_assembly_country", "final assembly country"),
    ]
    search_fields = ["vin", "batch__id"]
    date_hierarchy = "placed_in_service"
    fields = [
        "vin",
        "manufacturer",
        ("acquired", "placed_in_service"),
        "final_assembly_country",
        "batch_ref",
        "entry_ref",
    ]
    readonly_fields = ["batch_ref", "entry_ref"]

    @admin.display(description="pack batch", ordering="batch_id")
    def batch_ref(self, claim):
        return batch_link(claim.batch_id)

    @admin.display(description="claim entry", ordering="entry_id")
    def entry_ref(self, claim):
        return entry_link(claim.entry_id)


# --- the transparency log -----------------------------------------------------


@admin.register(models.LogState)
class LogStateAdmin(LedgerAdmin):
    list_display = ["id", "size", "frontier_size"]
    fields = ["size", "frontier"]

    @admin.display(description="frontier subtrees")
    def frontier_size(self, state):
        return len(state.frontier)


@admin.register(models.MerkleNode)
class MerkleNodeAdmin(LedgerAdmin):
    list_display = ["id", "level_shown", "position_shown", "hash"]
    search_fields = ["^hash"]
    show_full_result_count = False

    @admin.display(description="level")
    def level_shown(self, node):
        return node.level

    @admin.display(description="position")
    def position_shown(self, node):
        return node.position


@admin.register(models.Checkpoint)
class CheckpointAdmin(LedgerAdmin):
    list_display = ["tree_size", "root_hash", "published_at"]
    date_hierarchy = "published_at"
    fields = ["tree_size", "root_hash", "published_at", "signed_note"]
    readonly_fields = ["signed_note"]

    @admin.display(description="signed note")
    def signed_note(self, checkpoint):
        return format_html('<pre class="cairn-json">{}</pre>', checkpoint.note)


# --- links from entries to agreements (derived, read-only) ------------------------


@admin.register(models.EntryAgreementLink)
class EntryAgreementLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "entry_link",
        "agreement",
        "agreement_source",
        "mineral",
        "country",
        "occurred_on",
        "rules_version",
        "linked_at",
    ]
    list_filter = ["agreement", "mineral", "country"]
    list_select_related = ["entry", "agreement"]
    search_fields = ["=entry__index", "agreement__slug"]

    @admin.display(description="entry", ordering="entry_id")
    def entry_link(self, link):
        return entry_link(link.entry_id)

    @admin.display(description="according to")
    def agreement_source(self, link):
        return format_html('<a href="{0}">{0}</a>', link.agreement.source)

    @admin.display(description="occurred on", ordering="entry__occurred_at")
    def occurred_on(self, link):
        return link.entry.occurred_at.date()


LINK_FIELDS = ("agreement", "mineral", "country", "source", "rules_version", "linked_at")


class EntryAgreementLinkInline(ReadOnlyAdminMixin, admin.TabularInline):
    """For the Entry admin: the agreements that make the entry's country count."""

    model = models.EntryAgreementLink
    fk_name = "entry"
    extra = 0
    fields = LINK_FIELDS
    readonly_fields = LINK_FIELDS

    @admin.display(description="source")
    def source(self, link):
        return format_html('<a href="{0}">{0}</a>', link.agreement.source)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("agreement")
