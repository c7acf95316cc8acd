"""Redis as the cache, and Redis down: the API keeps answering (the throttle
fails open), public log reads included."""

from __future__ import annotations

import socket

import pytest

from tests.support import origin_payload, post, sign_payload


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def redis_down(settings, monkeypatch):
    from provenance.api import throttles

    monkeypatch.setattr(throttles, "_last_warning", 0.0)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
        }
    }


def test_public_log_reads_and_appends_work_with_the_cache_down(redis_down, api, ledger, miner, caplog):
    from django.core.cache import cache

    with pytest.raises(Exception):  # noqa: B017 - the cache really is down
        cache.get("anything")
    assert api.get("/api/v1/log/key").status_code == 200
    response = post(api, miner, sign_payload(origin_payload(ledger, miner), miner))
    assert response.status_code == 201, response.content
    batch = api.get("/api/v1/batches/pilbara-mining:ore-9", **miner.auth)
    assert batch.status_code == 200
    assert "throttle cache unavailable" in caplog.text
