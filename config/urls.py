"""URL routes. API paths follow the contract exactly: no trailing slash."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from audit.health import CairnHealthView

# The admin names Cairn; its "View site" leads to the landing page.
admin.site.site_header = "Cairn administration"
admin.site.site_title = "Cairn"
admin.site.index_title = "Cairn: ledger, claims and verdicts"

urlpatterns = [
    path("", TemplateView.as_view(template_name="cairn/landing.html"), name="landing"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("provenance.api.urls")),
    path("api/v1/log/", include("provenance.api.log_urls")),
    path("api/v1/log/", include("provenance.api.tile_urls")),
    path("api/v1/", include("audit.urls")),
    path("api/v1/", include("provenance.api.rules_urls")),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("health", CairnHealthView.as_view(), name="health"),
]

handler400 = "provenance.api.errors.bad_request"
handler404 = "provenance.api.errors.not_found"
handler500 = "provenance.api.errors.server_error"
