from __future__ import annotations

import logging

import orjson
import pytest
from sanic.exceptions import NotFound, PayloadTooLarge, RequestCancelled

from domain.errors import WeChatOverloaded
from domain.platform_errors import InvalidPhoneCode
from entrypoints.errors import JsonErrorHandler, answer_of


def test_a_request_the_client_cancelled_is_not_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG):
        response = JsonErrorHandler().default(None, RequestCancelled())  # type: ignore[arg-type]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert response.status == 499  # counted and logged as the client's doing, not a 5xx


def test_an_unexpected_exception_is_logged_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = JsonErrorHandler().default(None, RuntimeError("boom"))  # type: ignore[arg-type]
    assert response.status == 500
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "unhandled error"
    ]


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [(WeChatOverloaded, 503, "platform_busy"), (InvalidPhoneCode, 422, "invalid_phone_code"),
     (PayloadTooLarge, 413, "payload_too_large"), (NotFound, 404, "not_found")],
)
def test_the_documented_answer_of_an_error_is_the_one_the_handler_gives(
    kind: type[Exception], status: int, code: str
) -> None:
    assert answer_of(kind)[:2] == (status, code)
    response = JsonErrorHandler().default(None, kind())  # type: ignore[arg-type]
    assert (response.status, orjson.loads(response.body)["error"]["code"]) == (status, code)


def test_an_error_the_table_does_not_answer_cannot_be_documented() -> None:
    with pytest.raises(LookupError):
        answer_of(RuntimeError)
