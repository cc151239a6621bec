from __future__ import annotations

import logging

import pytest
from sanic.exceptions import RequestCancelled

from entrypoints.errors import JsonErrorHandler


def test_a_request_the_client_cancelled_is_not_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        JsonErrorHandler().default(None, RequestCancelled())  # type: ignore[arg-type]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_unexpected_exception_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = JsonErrorHandler().default(None, RuntimeError("boom"))  # type: ignore[arg-type]
    assert response.status == 500
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "unhandled error"
    ]
