"""Alipay's RSA2 request signature against the published vector, and the raw response text
the answer's signature covers."""

from __future__ import annotations

import datetime

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization

from adapters.platforms.alipay import AiohttpAlipayGateway
from adapters.platforms.alipay_sign import (
    load_private_key,
    load_public_key,
    rsa2_sign,
    rsa2_verify,
    sign_content,
    top_level_values,
)
from tests.fixtures.platform_simulators import APP_PRIVATE_KEY, APP_PUBLIC_KEY

VECTOR_PARAMS = {
    "app_id": "2014072300007148",
    "method": "alipay.system.oauth.token",
    "format": "JSON",
    "charset": "utf-8",
    "sign_type": "RSA2",
    "timestamp": "2014-07-24 03:07:50",
    "version": "1.0",
    "grant_type": "authorization_code",
    "code": "4b203fe6c11548bcabd8da5bb087a83b",
}
VECTOR_CONTENT = (
    "app_id=2014072300007148&charset=utf-8&code=4b203fe6c11548bcabd8da5bb087a83b&format=JSON"
    "&grant_type=authorization_code&method=alipay.system.oauth.token&sign_type=RSA2"
    "&timestamp=2014-07-24 03:07:50&version=1.0"
)
VECTOR_SIGN = (
    "U5zBpjiJ6UK+278sbnWYc81LRWNYuXPnWJ6CLBJZWb746FOhtpyjzR0AdEsNvddyweNo6wmI8103knuE93UwGzhBS8yd"
    "FBVEtIbLBtO8XFWKCwr4Zy5h5hsGkzxDE58z1QzpCjNsG1Lgx6ZYC//AHhTSrprTAj+NZAkmPR8rMRA5IoxAUaF9N2I5"
    "31icE/WxOELKolMe0ccBDf6Fq4Xu+8PgNbjA4zw0K8OaQkgXu35KbH8EJBmkxB7wJPGtvTR9V7ObNwKnKLew4FVPXDmD"
    "mL/0jCXiSqckUStW1Lyi2XUQK3OYr/dzOTUYLy72EyMLf5TiIZ0bqt79wPBMKHT4Hw=="
)


def test_the_sign_content_is_the_sorted_non_empty_parameters_but_sign() -> None:
    params = {**VECTOR_PARAMS, "sign": "x", "app_auth_token": ""}

    assert sign_content(params) == VECTOR_CONTENT


def test_the_request_signature_matches_alipays_vector() -> None:
    signature = rsa2_sign(VECTOR_CONTENT.encode(), load_private_key(APP_PRIVATE_KEY))

    assert signature == VECTOR_SIGN
    assert len(signature) == 344
    assert rsa2_verify(VECTOR_CONTENT.encode(), signature, load_public_key(APP_PUBLIC_KEY))


async def test_the_gateway_signs_its_request_like_the_vector() -> None:
    china = datetime.timezone(datetime.timedelta(hours=8))
    async with aiohttp.ClientSession() as session:
        gateway = AiohttpAlipayGateway(
            session,
            base_url="http://127.0.0.1:9",
            appid="2014072300007148",
            private_key=APP_PRIVATE_KEY,
            alipay_public_key=APP_PUBLIC_KEY,
            timeout=1.0,
            now=lambda: datetime.datetime(2014, 7, 24, 3, 7, 50, tzinfo=china),
        )
        query, form = gateway.signed_params("4b203fe6c11548bcabd8da5bb087a83b")

    assert query.pop("sign") == VECTOR_SIGN
    assert {**query, **form} == VECTOR_PARAMS


def test_a_pkcs8_private_key_signs_the_same() -> None:
    pkcs8 = load_private_key(APP_PRIVATE_KEY).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    assert rsa2_sign(VECTOR_CONTENT.encode(), load_private_key(pkcs8)) == VECTOR_SIGN


def test_a_changed_byte_does_not_verify() -> None:
    key = load_public_key(APP_PUBLIC_KEY)

    assert not rsa2_verify(VECTOR_CONTENT.encode() + b" ", VECTOR_SIGN, key)
    assert not rsa2_verify(VECTOR_CONTENT.encode(), "not base64!", key)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"r":{"a":"}\\"{","b":[1,{"c":2}]},"sign":"s"}', b'{"a":"}\\"{","b":[1,{"c":2}]}'),
        (b' { "r" : {"x":1} , "sign" : "s" } ', b'{"x":1}'),
        (b'{"sign":"s","r":{"n":"\xe6\x8e\x88"}}', b'{"n":"\xe6\x8e\x88"}'),
    ],
)
def test_the_signed_text_is_cut_out_of_the_body_untouched(body: bytes, expected: bytes) -> None:
    values = top_level_values(body)

    assert values["r"] == expected
    assert values["sign"] == b'"s"'


def test_a_key_named_in_a_string_value_is_not_taken_for_a_top_level_one() -> None:
    values = top_level_values(b'{"a":"\\"r\\":{}","r":{"ok":true}}')

    assert values["r"] == b'{"ok":true}'
