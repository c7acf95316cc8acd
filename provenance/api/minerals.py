"""GET /api/v1/critical-minerals: the names a statement's `minerals` may use (public).

The statute's list is data (agreements.models.CriticalMineral); suppliers
read it here, beside the ledger's endpoints, rather than from the admin,
which is not theirs.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from agreements.models import CriticalMineral
from provenance.api.log_views import PublicLogView
from provenance.api.serializers import ErrorSerializer, render


class CriticalMineralSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='The key to use in an origin output\'s "minerals", e.g. "lithium".')
    title = serializers.CharField(help_text="The mineral's name in words.")
    battery_relevant = serializers.BooleanField(help_text="Found in EV batteries (DOMAIN.md).")


class CriticalMineralListSerializer(serializers.Serializer):
    critical_minerals = CriticalMineralSerializer(many=True)


class CriticalMineralListView(PublicLogView):
    """The critical minerals of the statute's list, by name: anyone may read them."""

    @extend_schema(
        operation_id="critical_minerals_list",
        summary="The critical-mineral names a statement may use",
        responses={200: CriticalMineralListSerializer, 429: ErrorSerializer},
        tags=["rules"],
    )
    def get(self, request):
        rows = CriticalMineral.objects.order_by("slug").values_list("slug", "name", "battery_relevant")
        minerals = [{"name": slug, "title": name, "battery_relevant": battery} for slug, name, battery in rows]
        return Response(render(CriticalMineralListSerializer, {"critical_minerals": minerals}))
