"""GET /batches/{id}/macr?year=YYYY[&sold_year=YYYY]: a component batch's §45X verdict (audit.macr).

Beyond the contract's §5 endpoints, in the §45X addition's spirit: auditors
and the taxpayer (the organisation whose statement created the batch) may
ask; anyone else gets `not_found`, word for word what a missing batch gets.
The verdict is computed afresh and not stored or signed (yet).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import macr
from cairn_core.payload import BATCH_ID
from provenance.api.permissions import IsMember, organization_of
from provenance.api.schema import AUTHENTICATED, errors
from provenance.errors import LedgerError
from provenance.models import Batch

YEAR = OpenApiParameter("year", int, required=True, description="The taxable year (four digits).")
SOLD_YEAR = OpenApiParameter(
    "sold_year", int, required=False, description="What if the batch were sold that year (four digits)."
)


class BatchMacrView(APIView):
    permission_classes = [IsMember]

    @extend_schema(
        parameters=[YEAR, SOLD_YEAR],
        responses={200: dict, **errors("BatchMacr", *AUTHENTICATED, "bad_request", "not_found", "unavailable")},
    )
    def get(self, request: Request, batch_id: str) -> Response:
        batch = Batch.objects.filter(id=batch_id).first() if BATCH_ID.match(batch_id) else None
        if batch is None or not macr.may_read(organization_of(request), batch):
            raise LedgerError("not_found", f"No batch {batch_id} whose §45X verdict you may read.")
        year = macr.year_param(request.query_params, "year")
        sold_year = macr.year_param(request.query_params, "sold_year") if "sold_year" in request.query_params else None
        return Response(macr.macr_verdict(batch, year, sold_year=sold_year))
