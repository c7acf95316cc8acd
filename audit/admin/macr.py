"""The auditors' §45X pages: a component batch's material assistance verdict, its what-if, and
the component batches' outlook.

It extends the ledger's read-only BatchAdmin (provenance.admin, which leaves
Batch unregistered) with what only the audit app knows; audit.admin
registers it. Pages (under /admin/provenance/batch/, for staff who may view
batches, as the Auditors group may):

* A batch's §45X verdict (``<batch>/macr/<year>/``): the outcome told in
  words (`audit.macr_text`), the totals, the ratio as the core shows it
  (truncated, never rounded up across the threshold), the threshold with
  its source and confirmed flag, the year sold and where it comes from,
  the existing-contract exception, each input with its supplier, cost and
  why it is or is not attributed (with links to the entries), the problems,
  and the scope with its citations. The verdict is computed afresh from the
  log (`audit.macr_desk`), neither signed nor stored.
* Its what-if (the same page, a GET form): a supplier designated or its
  designations removed, or another year sold; the changed verdict beside
  the verdict, nothing stored.
* Sign and store (``<batch>/macr/<year>/store/``, POST, for users with
  `audit.run_verification`): the verdict the page shows, as the sales say
  or as if sold in the year of a year-sold what-if, stored, signed and
  logged by `audit.macr.store_verification`; then its stored
  verification's page (audit.admin.macr_verifications). A designation
  what-if is never signed: the form carries a year sold and nothing else.
* The outlook (``macr/?year=2026``): every component batch with its outcome
  for the taxable year and what the next year's threshold would make of it,
  with a filter for the batches it would fail.

Viewing a verdict, running a what-if and storing a verdict are recorded in
the activity log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from django_countries import countries as country_names

from audit import activity, batch_stories, macr, macr_desk, macr_text
from audit.auditors import RUN_VERIFICATION_PERM
from audit.models import Activity
from provenance.admin import BatchAdmin
from provenance.errors import LedgerError
from provenance.models import Batch, Organization

FIRST_YEAR, LAST_YEAR = 2000, 2100
KIND_CHOICES = [("specified", "specified foreign entity"), ("foreign_influenced", "foreign-influenced entity")]


def macr_url(batch_id: str, year: int) -> str:
    return reverse("admin:provenance_batch_macr", args=[quote(batch_id), year])


def store_url(batch_id: str, year: int) -> str:
    return reverse("admin:provenance_batch_macr_store", args=[quote(batch_id), year])


def entry_url(index: int) -> str:
    return reverse("admin:provenance_entry_change", args=[index])


def batch_url(batch_id: str) -> str:
    return reverse("admin:provenance_batch_change", args=[quote(batch_id)])


class MacrWhatIfForm(forms.Form):
    """What if a supplier of the inputs were designated, or no longer, or the batch sold another year?"""

    what_if = forms.CharField(widget=forms.HiddenInput, initial="1")
    designate = forms.ChoiceField(
        label="Designate a supplier a prohibited foreign entity",
        required=False,
        help_text="From the first day of the taxable year, so that it holds on the status date.",
    )
    kind = forms.ChoiceField(label="Designated as a", choices=KIND_CHOICES, initial="specified", required=False)
    undesignate = forms.ChoiceField(label="Remove every designation of", required=False)
    year_sold = forms.IntegerField(
        label="Sold in (year)",
        required=False,
        min_value=2025,
        max_value=LAST_YEAR,
        help_text="The threshold of that year applies, as if the batch were sold then (e.g. 2027).",
    )

    def __init__(self, *args: Any, verdict: Mapping[str, Any], names: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        suppliers = sorted({item["supplier"] for item in verdict["inputs"] if item["supplier"]})
        designated = sorted({found["entity"] for item in verdict["inputs"] for found in item["designations"]})
        cast(forms.ChoiceField, self.fields["designate"]).choices = [("", "(nobody)")] + [
            (slug, f"{names.get(slug, slug)} ({slug})") for slug in suppliers if slug not in designated
        ]
        cast(forms.ChoiceField, self.fields["undesignate"]).choices = [("", "(nobody)")] + [
            (slug, f"{names.get(slug, slug)} ({slug})") for slug in designated
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not (cleaned.get("designate") or cleaned.get("undesignate") or cleaned.get("year_sold")):
            raise forms.ValidationError("Choose a supplier to designate or undesignate, or a year sold.")
        return cleaned


class AuditorBatchAdmin(BatchAdmin):
    """The ledger's read-only Batch admin, with the §45X verdict pages of component batches."""

    change_list_template = "admin/audit/batch/change_list.html"
    fields = [*BatchAdmin.fields, "material_assistance"]
    readonly_fields = [*BatchAdmin.readonly_fields, "material_assistance"]

    class Media:
        css = {"all": ["audit/auditor.css"]}

    @admin.display(description="§45X material assistance")
    def material_assistance(self, batch: Batch) -> str:
        if not batch.component:
            return "Not a component batch."
        year = timezone.now().year
        return format_html('<a href="{}">Its verdict for {}</a>', macr_url(batch.id, year), year)

    def get_urls(self):
        view = self.admin_site.admin_view
        own = [
            path("macr/", view(self.outlook_view), name="provenance_batch_macr_outlook"),
            path(
                "<path:object_id>/macr/<int:year>/store/",
                view(require_POST(self.store_view)),
                name="provenance_batch_macr_store",
            ),
            path("<path:object_id>/macr/<int:year>/", view(self.macr_view), name="provenance_batch_macr"),
        ]
        return own + super().get_urls()

    def macr_view(self, request, object_id, year):
        """The batch's §45X verdict for the taxable year, told; with the what-if when asked (GET)."""
        batch = get_object_or_404(Batch, pk=unquote(object_id))
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise Http404(f"No taxable year {year}: a year from {FIRST_YEAR} to {LAST_YEAR}.")
        try:
            found = macr_desk.evidence(batch)
            verdict = macr_desk.verdict(found, year)
        except LedgerError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(batch_url(batch.id))
        names = organization_names(verdict)
        form = MacrWhatIfForm(request.GET if "what_if" in request.GET else None, verdict=verdict, names=names)
        changed = None
        if form.is_valid():  # over broken evidence, the what-if is incomplete as the verdict is
            changed = self.run_what_if(request, found, batch, year, form.cleaned_data, names)
        activity.record(request.user, Activity.Action.VIEWED_VERDICT, f"{batch.id} §45X {year}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"§45X material assistance: {batch.id}, taxable year {year}",
            "batch": batch,
            "year": year,
            "media": self.media,
            "form": form,
            "broken": found.broken,
            "computed_at": found.as_of,
            "story": batch_stories.story(batch.id, year),
            "outlook_url": reverse("admin:provenance_batch_macr_outlook") + f"?year={year}",
            "other_years": [(other, macr_url(batch.id, other)) for other in (year - 1, year + 1)],
            **verdict_story(verdict, names),
            "what_if": what_if_story(verdict, changed, names) if changed is not None else None,
            "can_store": request.user.has_perm(RUN_VERIFICATION_PERM),
            "store_url": store_url(batch.id, year),
        }
        return TemplateResponse(request, "admin/audit/macr/verdict.html", context)

    def store_view(self, request, object_id, year):
        """POST: sign and store the verdict the page shows (as if sold in `sold_year`, when posted),
        then show the stored verification; a refusal is told on the verdict's page."""
        if not request.user.has_perm(RUN_VERIFICATION_PERM):
            raise PermissionDenied
        batch = get_object_or_404(Batch, pk=unquote(object_id))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise Http404(f"No taxable year {year}: a year from {FIRST_YEAR} to {LAST_YEAR}.")
        back = HttpResponseRedirect(macr_url(batch.id, year))
        text = request.POST.get("sold_year", "")
        if text and not (text.isascii() and text.isdigit() and FIRST_YEAR <= int(text) <= LAST_YEAR):
            self.message_user(request, f"Not stored: no year sold {text!r}.", messages.ERROR)
            return back
        sold_year = int(text) if text else None
        try:
            verification = macr.store_verification(batch, year, sold_year, requested_by=request.user)
        except LedgerError as exc:
            self.message_user(request, f"Not stored: {exc.message}", messages.ERROR)
            return back
        activity.record(request.user, Activity.Action.RAN_VERIFICATION, verification)
        if verification.integrity == "broken":
            self.message_user(
                request,
                "Stored, as incomplete: the evidence fails its integrity checks, each problem is now an "
                "open integrity incident.",
                messages.WARNING,
            )
        else:
            self.message_user(request, f"Stored and signed: {verification}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:audit_macrverification_change", args=[verification.pk]))

    def run_what_if(self, request, found, batch, year, cleaned, names) -> dict[str, Any]:
        entity = cleaned.get("designate") or None
        designate = (
            macr_desk.what_if_designation(
                entity, names.get(entity, entity), cleaned.get("kind") or "specified", year, request.user.get_username()
            )
            if entity
            else None
        )
        changed = macr_desk.what_if(
            found,
            year,
            designate=designate,
            undesignate=cleaned.get("undesignate") or None,
            year_sold=cleaned.get("year_sold"),
        )
        asked = {key: value for key, value in changed["what_if"].items() if value is not None}
        activity.record(request.user, Activity.Action.RAN_WHAT_IF, f"{batch.id} §45X {year}", **_plain(asked))
        return changed

    def outlook_view(self, request):
        """Every component batch's outcome for the taxable year, and were it sold the next year."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        text = request.GET.get("year", "")
        year = int(text) if text.isascii() and text.isdigit() and len(text) == 4 else timezone.now().year
        year = min(max(year, FIRST_YEAR), LAST_YEAR - 1)
        would_fail = request.GET.get("would_fail") == "1"
        try:
            rows = sorted((outlook_row(item, year) for item in macr_desk.outlook(year)), key=outlook_order)
        except LedgerError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:provenance_batch_changelist"))
        failing = [row for row in rows if row["next_year_fails"]]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"§45X material assistance: component batches, taxable year {year}",
            "media": self.media,
            "year": year,
            "next_year": year + 1,
            "rows": failing if would_fail else rows,
            "count": len(rows),
            "failing_count": len(failing),
            "counts": outcome_counts(rows),
            "would_fail": would_fail,
            "next_thresholds": sorted({row["next_threshold"] for row in rows if row["next_threshold"]}),
        }
        return TemplateResponse(request, "admin/audit/macr/outlook.html", context)


def _plain(asked: Mapping[str, Any]) -> dict[str, Any]:
    """The what-if's parameters as the activity log keeps them (JSON)."""
    return {key: (value["entity"] if isinstance(value, dict) else value) for key, value in asked.items()}


def organization_names(verdict: Mapping[str, Any]) -> dict[str, str]:
    slugs = {verdict["taxpayer"], *(item["supplier"] for item in verdict["inputs"] if item["supplier"])}
    return dict(Organization.objects.filter(slug__in=slugs).values_list("slug", "name"))


def verdict_story(verdict: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """What the verdict page shows: the verdict's figures with their words and links."""
    countries = dict(
        Organization.objects.filter(slug__in=list(names)).values_list("slug", "country")
    )  # the suppliers' countries, for the inputs' table
    sale = verdict["year_sold"]["sale"]
    return {
        "verdict": verdict,
        "sentence": macr_text.outcome_sentence(verdict),
        "outcome_name": macr_text.OUTCOME_NAMES.get(verdict["outcome"], verdict["outcome"]),
        "class_name": macr_text.class_name(verdict),
        "totals": {key: macr_text.usd(value) for key, value in verdict["totals"].items()},
        "year_sold_text": macr_text.year_sold_text(verdict),
        "status_rule": macr_text.STATUS_RULES.get(verdict["status_date"]["rule"], verdict["status_date"]["rule"]),
        "checked": [macr_text.words(code) for code in verdict["scope"]["checked"]],
        "sale_url": entry_url(sale["index"]) if sale else None,
        "component_url": entry_url(verdict["component"]["index"]),
        "taxpayer_name": names.get(verdict["taxpayer"], verdict["taxpayer"]),
        "inputs": [_input_row(item, verdict, names, countries) for item in verdict["inputs"]],
        "problems": [
            {**problem, "url": entry_url(problem["index"]) if problem.get("index") is not None else None}
            for problem in verdict["problems"]
        ],
    }


def _input_row(
    item: Mapping[str, Any], verdict: Mapping[str, Any], names: Mapping[str, str], countries: Mapping[str, Any]
) -> dict[str, Any]:
    supplier = item["supplier"]
    country = countries.get(supplier)
    return {
        "batch": item["batch"],
        "batch_url": batch_url(item["batch"]),
        "supplier": supplier,
        "supplier_name": names.get(supplier, supplier) if supplier else "",
        "country": f"{country_names.name(country)} ({country})" if country else "",
        "created_url": entry_url(item["creating_index"]) if item["creating_index"] is not None else None,
        "creating_index": item["creating_index"],
        "cost": macr_text.usd(item["direct_material_cost_usd"]),
        "attributed": macr_text.usd(item["pfe_attributed_usd"]),
        "clear": item["pfe_attributed_usd"] == "0",
        "story": [linked(said) for said in macr_text.input_story(item, verdict, names)],
    }


def linked(said: macr_text.Said) -> str:
    """The sentence with its "entry #N" linked to the entry's page."""
    if said.entry is None:
        return format_html("{}", said.text)
    for mention in (f"entry #{said.entry}", f"Entry #{said.entry}"):
        before, found, after = said.text.partition(mention)
        if found:
            return format_html('{}<a href="{}">{}</a>{}', before, entry_url(said.entry), found, after)
    return format_html('{} (<a href="{}">entry #{}</a>)', said.text, entry_url(said.entry), said.entry)


def what_if_story(verdict: Mapping[str, Any], changed: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The what-if beside the verdict: what was asked, the outcome and figures before and after,
    and the inputs whose attribution changes."""
    asked = changed["what_if"]
    said = []
    if asked.get("designate"):
        found = asked["designate"]
        kind = macr_text.KIND_NAMES.get(found["kind"], found["kind"])
        entity = found["entity"]
        said.append(f"{names.get(entity, entity)} ({entity}) were designated a {kind} from {found['from']}")
    if asked.get("undesignate"):
        entity = asked["undesignate"]
        said.append(f"every designation of {names.get(entity, entity)} ({entity}) were removed")
    if asked.get("year_sold"):
        said.append(f"the batch were sold in {asked['year_sold']}")
    before = {item["batch"]: item for item in verdict["inputs"]}
    rules_changed = bool(asked.get("designate") or asked.get("undesignate"))
    return {
        "asked": ", and ".join(said),
        # Only a year sold may be signed: designations changed are not the log's rules.
        "signable_year": asked["year_sold"] if asked.get("year_sold") and not rules_changed else None,
        "verdict": changed,
        "sentence": macr_text.outcome_sentence(changed),
        "outcome_name": macr_text.OUTCOME_NAMES.get(changed["outcome"], changed["outcome"]),
        "changed_outcome": changed["outcome"] != verdict["outcome"],
        "rules_changed": rules_changed,
        "totals": {key: macr_text.usd(value) for key, value in changed["totals"].items()},
        "inputs": [
            {
                "batch": item["batch"],
                "supplier": item["supplier"],
                "before": macr_text.usd(before[item["batch"]]["pfe_attributed_usd"]),
                "after": macr_text.usd(item["pfe_attributed_usd"]),
            }
            for item in changed["inputs"]
            if item["batch"] in before and before[item["batch"]]["pfe_attributed_usd"] != item["pfe_attributed_usd"]
        ],
    }


def outlook_row(item: macr_desk.Outlook, year: int) -> dict[str, Any]:
    now, later = item.verdict, item.next_year
    return {
        "batch": item.batch,
        "url": macr_url(item.batch.id, year),
        "class_name": macr_text.class_name(now),
        "outcome": now["outcome"],
        "outcome_name": macr_text.OUTCOME_NAMES.get(now["outcome"], now["outcome"]),
        "percent": now["macr"]["percent_shown"] if now["macr"] else None,
        "threshold": now["threshold"]["percent"] if now["threshold"] else None,
        "year_sold": macr_text.year_sold_short(now),
        "next_outcome": later["outcome"],
        "next_outcome_name": macr_text.OUTCOME_NAMES.get(later["outcome"], later["outcome"]),
        "next_percent": later["macr"]["percent_shown"] if later["macr"] else None,
        "next_threshold": later["threshold"]["percent"] if later["threshold"] else None,
        "next_year_fails": item.next_year_fails,
        "reason": macr_text.outcome_sentence(now) if now["outcome"] not in ("pass", "fail") else "",
    }


OUTCOME_ORDER = ("fail", "pass", "excepted", "incomplete", "not_applicable")


def outlook_order(row: Mapping[str, Any]) -> tuple[bool, int, str]:
    """The batches the next year would fail first, then by outcome, then by id."""
    order = OUTCOME_ORDER.index(row["outcome"]) if row["outcome"] in OUTCOME_ORDER else len(OUTCOME_ORDER)
    return (not row["next_year_fails"], order, row["batch"].id)


def outcome_counts(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    counted: dict[str, int] = {}
    for row in rows:
        counted[row["outcome_name"]] = counted.get(row["outcome_name"], 0) + 1
    return sorted(counted.items())
