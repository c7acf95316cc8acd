"""C2SP tlog-tiles routes under /api/v1/log (contract §4, "Tiles").

Entry bundles first: `tile/entries/...` would also match the hash tiles'
pattern. The views parse the spec's path encoding themselves.
"""

from django.urls import path

from provenance.api import tile_views

urlpatterns = [
    path("tile/entries/<path:coordinates>", tile_views.EntryBundleView.as_view(), name="log-tile-entries"),
    path("tile/<path:coordinates>", tile_views.HashTileView.as_view(), name="log-tile"),
]
