"""URL routes. API paths follow the contract exactly: no trailing slash."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from audit.health import CairnHealthView

urlpatterns = [
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
