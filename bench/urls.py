"""Cairn's routes plus /bench/noop, a DRF POST that does nothing (the baseline)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as cairn_urlpatterns


class NoopView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request):
        return Response({"ok": True}, status=201)


urlpatterns = [path("bench/noop", NoopView.as_view()), *cairn_urlpatterns]
