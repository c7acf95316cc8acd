"""Cairn's routes plus /bench/noop, a DRF POST that does nothing (the baseline),
and /bench/worker, which tells which gunicorn worker holds the connection."""

import os

from django.http import JsonResponse
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


def worker(request):
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [path("bench/noop", NoopView.as_view()), path("bench/worker", worker), *cairn_urlpatterns]
