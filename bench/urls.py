"""Cairn's routes plus /bench/noop, a DRF POST that does nothing (the baseline),
and /bench/worker, which tells which gunicorn worker holds the connection.
With CAIRN_BENCH_ORM_APPEND set, the append writes its rows with the plain
ORM (bench/orm_append.py)."""

import os

from django.http import JsonResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from bench import orm_append
from config.urls import urlpatterns as cairn_urlpatterns

if os.environ.get("CAIRN_BENCH_ORM_APPEND"):
    orm_append.install()


class NoopView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request):
        return Response({"ok": True}, status=201)


def worker(request):
    return JsonResponse({"pid": os.getpid()})


urlpatterns = [path("bench/noop", NoopView.as_view()), path("bench/worker", worker), *cairn_urlpatterns]
