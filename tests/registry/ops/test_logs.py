import json
import logging

import pytest
from django.test import Client

from registry.ops.logs import JsonFormatter, RequestIdFilter, request_id

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_request_id():
    first = Client().get("/v2/")["X-Request-ID"]
    second = Client().get("/v2/")["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_the_proxys_request_id_is_kept_when_sane():
    assert Client().get("/v2/", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    assert Client().get("/v2/", HTTP_X_REQUEST_ID="<script>")["X-Request-ID"] != "<script>"


def test_json_lines_carry_the_request_id():
    record = logging.makeLogRecord(
        {"name": "registry", "msg": "stored %s", "args": ("x",), "levelname": "INFO"}
    )
    token = request_id.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "stored x"
    assert line["request_id"] == "rid-1"
    assert line["level"] == "INFO"
