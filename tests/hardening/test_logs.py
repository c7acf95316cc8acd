"""Structured logs: one JSON line per request, one per appended entry."""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import settings

from tests.support import origin_payload, post, sign_payload


def json_lines(caplog, logger: str) -> list[dict]:
    """The records of `logger` as the configured JSON formatter writes them."""
    formatter_config = dict(settings.LOGGING["formatters"]["json"])
    factory = formatter_config.pop("()")
    module, name = factory.rsplit(".", 1)
    formatter = getattr(__import__(module, fromlist=[name]), name)(**formatter_config)
    return [json.loads(formatter.format(record)) for record in caplog.records if record.name == logger]


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO, logger="cairn.request")
    caplog.set_level(logging.INFO, logger="cairn.append")
    return caplog


def test_one_json_line_per_request_with_the_callers_org(logs, api, ledger, miner):
    body = sign_payload(origin_payload(ledger, miner), miner)
    assert post(api, miner, body).status_code == 201
    assert api.get("/api/v1/log/key").status_code == 200
    assert api.get("/api/v1/batches/nope:x", **miner.auth).status_code == 404
    lines = json_lines(logs, "cairn.request")
    assert [(line["method"], line["path"], line["status"], line["org"]) for line in lines] == [
        ("POST", "/api/v1/attestations", 201, "pilbara-mining"),
        ("GET", "/api/v1/log/key", 200, None),
        ("GET", "/api/v1/batches/nope:x", 404, "pilbara-mining"),
    ]
    for line in lines:
        assert line["logger"] == "cairn.request" and line["level"] == "INFO" and line["time"]
        assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0


def test_one_json_line_per_appended_entry_once_committed(logs, api, ledger, miner, django_capture_on_commit_callbacks):
    body = sign_payload(origin_payload(ledger, miner), miner)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        receipt = post(api, miner, body).json()
    assert json_lines(logs, "cairn.append") == []  # not before the commit
    for callback in pending:
        callback()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(api, miner, body).status_code == 200  # a re-post appends nothing
    lines = json_lines(logs, "cairn.append")
    assert [(line["index"], line["entry_hash"], line["issuer"]) for line in lines] == [
        (receipt["index"], receipt["entry_hash"], "pilbara-mining")
    ]


def test_refused_appends_log_no_entry(logs, api, ledger, miner):
    payload = origin_payload(ledger, miner, site={"name": "Mine", "country": "ZZ"})
    assert post(api, miner, sign_payload(payload, miner)).status_code == 400
    assert json_lines(logs, "cairn.append") == []
    assert [line["status"] for line in json_lines(logs, "cairn.request")] == [400]
