"""Open data: decryption of ``encryptedData``, ``rawData`` and login-state signatures."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.crypto import CryptographyCipher
from domain.errors import InvalidRequest
from domain.open_data import (
    check_raw_data_signature,
    decode_base64,
    decrypt_open_data,
    raw_data_signature,
    session_signature,
    unpad_pkcs7,
)
from domain.platform_errors import DecryptFailed, SignatureMismatch, WatermarkMismatch

CIPHER = CryptographyCipher()

# WeChat's official demo vector (the mini-program "open data" decryption sample).
DEMO_APPID = "wx4f4bc4dec97d474b"
DEMO_SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
DEMO_IV = "r7BXXKkLb8qrSNn05n0qiA=="
DEMO_ENCRYPTED_DATA = (
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC"
    "+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poO"
    "FtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8"
    "xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB"
    "6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJd"
    "NiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOy"
    "uxINew=="
)

# The rawData signature vector of WeChat's documentation.
DOC_RAW_DATA = (
    '{"nickName":"Band","gender":1,"language":"zh_CN","city":"Guangzhou","province":"Guangdong",'
    '"country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w'
    '7bQxKARol6503Iuswjjn6nIGBiaycAjAtpujxyzYsrztuuICqIM5ibXQ/0"}'
)
DOC_RAW_SESSION_KEY = "HyVFkGl5F5OQWJZZaNzBBg=="
DOC_RAW_SIGNATURE = "75e81ceda165f4ffa64f4068af58c64b8f54b88c"

APPID = "wx-test-app"
KEY = bytes(range(16))
SESSION_KEY = base64.b64encode(KEY).decode()


def encrypt(plaintext: bytes, *, key: bytes = KEY, iv: bytes = b"\x07" * 16,
            pad: bool = True) -> tuple[str, str]:
    """(encrypted_data, iv) in base64, as a client would send them."""
    if pad:
        padder = padding.PKCS7(128).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode(), base64.b64encode(iv).decode()


def payload(**fields: Any) -> bytes:
    return json.dumps({"openId": "oSomeone", "watermark": {"appid": APPID, "timestamp": 1}}
                      | fields).encode()


def decrypt(encrypted_data: str, iv: str, *, session_key: str = SESSION_KEY,
            appid: str = APPID) -> dict[str, Any]:
    return decrypt_open_data(
        CIPHER, session_key=session_key, encrypted_data=encrypted_data, iv=iv, appid=appid
    )


# ---- WeChat's published vectors -------------------------------------------------------------


def test_wechats_demo_vector_decrypts_to_its_published_user() -> None:
    data = decrypt(DEMO_ENCRYPTED_DATA, DEMO_IV, session_key=DEMO_SESSION_KEY, appid=DEMO_APPID)

    assert data["openId"] == "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
    assert data["unionId"] == "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
    assert data["watermark"] == {"timestamp": 1477314187, "appid": DEMO_APPID}


def test_wechats_demo_vector_ends_with_seven_bytes_of_padding() -> None:
    padded = CIPHER.decrypt_aes128_cbc(
        base64.b64decode(DEMO_SESSION_KEY),
        base64.b64decode(DEMO_IV),
        base64.b64decode(DEMO_ENCRYPTED_DATA),
    )

    assert padded[-7:] == b"\x07" * 7
    assert unpad_pkcs7(padded) == padded[:-7]


def test_wechats_demo_vector_is_refused_for_another_app() -> None:
    with pytest.raises(WatermarkMismatch):
        decrypt(DEMO_ENCRYPTED_DATA, DEMO_IV, session_key=DEMO_SESSION_KEY, appid=APPID)


def test_the_documented_raw_data_signature_is_reproduced_and_accepted() -> None:
    assert raw_data_signature(DOC_RAW_DATA, DOC_RAW_SESSION_KEY) == DOC_RAW_SIGNATURE

    check_raw_data_signature(DOC_RAW_DATA, DOC_RAW_SIGNATURE, DOC_RAW_SESSION_KEY)
    check_raw_data_signature(DOC_RAW_DATA, DOC_RAW_SIGNATURE.upper(), DOC_RAW_SESSION_KEY)


@pytest.mark.parametrize(
    ("signature", "raw_data"),
    [
        ("0" * 40, DOC_RAW_DATA),
        (DOC_RAW_SIGNATURE, DOC_RAW_DATA + " "),
        ("", DOC_RAW_DATA),
        ("签名", DOC_RAW_DATA),
    ],
)
def test_a_wrong_raw_data_signature_is_a_signature_mismatch(signature: str, raw_data: str) -> None:
    with pytest.raises(SignatureMismatch):
        check_raw_data_signature(raw_data, signature, DOC_RAW_SESSION_KEY)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"", "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128"),
        (b'{"foo":"bar"}', "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"),
    ],
)
def test_login_state_signatures_match_wechats_documented_vectors(
    message: bytes, expected: str
) -> None:
    assert session_signature("o0q0otL8aEzpcZL/FT9WsQ==", message) == expected


# ---- vectors made here with known keys ------------------------------------------------------


def test_data_encrypted_with_the_session_key_decrypts_whole() -> None:
    encrypted_data, iv = encrypt(payload(nickName="微信用户", gender=0))

    data = decrypt(encrypted_data, iv)

    assert data == {
        "openId": "oSomeone",
        "watermark": {"appid": APPID, "timestamp": 1},
        "nickName": "微信用户",
        "gender": 0,
    }


@pytest.mark.parametrize("extra", ["", "x" * 11, "x" * 12, "x" * 27])
def test_every_padding_length_is_removed(extra: str) -> None:
    encrypted_data, iv = encrypt(payload(pad=extra))

    assert decrypt(encrypted_data, iv)["pad"] == extra


def test_base64_whose_plus_signs_became_spaces_is_repaired() -> None:
    iv_bytes = bytes.fromhex("fbeffbfbeffbfbeffbfbeffbfbeffbfb")  # "++" all over its base64
    encrypted_data, iv = encrypt(payload(), iv=iv_bytes)
    assert "+" in iv

    data = decrypt(encrypted_data.replace("+", " "), iv.replace("+", " "))

    assert data["openId"] == "oSomeone"


def test_base64_without_its_padding_or_with_surrounding_line_breaks_is_accepted() -> None:
    assert decode_base64("YWJjZA", field="x") == b"abcd"
    assert decode_base64("\tYWJjZA==\r\n", field="x") == b"abcd"


def test_spaces_at_the_ends_of_base64_are_plus_signs_too() -> None:
    assert decode_base64(" 8A=", field="x") == base64.b64decode("+8A=")
    assert decode_base64("AB  ", field="x") == base64.b64decode("AB++")


@pytest.mark.parametrize("iv", ["AAAA", base64.b64encode(b"\0" * 15).decode(),
                                base64.b64encode(b"\0" * 17).decode(), ""])
def test_an_iv_of_other_than_16_bytes_is_an_invalid_request(iv: str) -> None:
    encrypted_data, _ = encrypt(payload())

    with pytest.raises(InvalidRequest, match="iv"):
        decrypt(encrypted_data, iv)


@pytest.mark.parametrize("field", ["encrypted_data", "iv"])
def test_text_that_is_not_base64_is_an_invalid_request(field: str) -> None:
    encrypted_data, iv = encrypt(payload())
    values = {"encrypted_data": encrypted_data, "iv": iv, field: "not*base64!"}

    with pytest.raises(InvalidRequest, match=field):
        decrypt(values["encrypted_data"], values["iv"])


@pytest.mark.parametrize("ciphertext", [b"", b"\1" * 15, b"\1" * 33])
def test_a_ciphertext_of_partial_blocks_is_an_invalid_request(ciphertext: bytes) -> None:
    _, iv = encrypt(payload())

    with pytest.raises(InvalidRequest, match="encrypted_data"):
        decrypt(base64.b64encode(ciphertext).decode(), iv)


def test_a_stale_session_key_is_a_decrypt_failure() -> None:
    encrypted_data, iv = encrypt(payload(), key=os.urandom(16))

    with pytest.raises(DecryptFailed):
        decrypt(encrypted_data, iv)


@pytest.mark.parametrize(
    "padded_tail", [b"\x00", b"\x11", b"\x02\x03", b"\x05" * 4 + b"\x04\x05"],
    ids=["zero", "over-16", "unequal", "one-differs"],
)
def test_bad_padding_is_a_decrypt_failure(padded_tail: bytes) -> None:
    body = b"x" * (32 - len(padded_tail)) + padded_tail
    encrypted_data, iv = encrypt(body, pad=False)

    with pytest.raises(DecryptFailed):
        decrypt(encrypted_data, iv)


@pytest.mark.parametrize(
    "plaintext", [b"not json at all", b"[1, 2, 3]", b'"a string"', b"\xff\xfe{}"],
    ids=["text", "array", "string", "not-utf8"],
)
def test_a_plaintext_that_is_not_a_json_object_is_a_decrypt_failure(plaintext: bytes) -> None:
    encrypted_data, iv = encrypt(plaintext)

    with pytest.raises(DecryptFailed):
        decrypt(encrypted_data, iv)


@pytest.mark.parametrize(
    "fields",
    [{"watermark": {"appid": "wx-other", "timestamp": 1}}, {"watermark": None},
     {"watermark": "wx-test-app"}, {"watermark": {"timestamp": 1}}],
    ids=["other-app", "null", "not-object", "no-appid"],
)
def test_data_of_another_app_or_without_watermark_is_a_watermark_mismatch(
    fields: dict[str, Any],
) -> None:
    encrypted_data, iv = encrypt(payload(**fields))

    with pytest.raises(WatermarkMismatch):
        decrypt(encrypted_data, iv)


@pytest.mark.parametrize("session_key", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_session_key_is_a_decrypt_failure(session_key: str) -> None:
    encrypted_data, iv = encrypt(payload())

    with pytest.raises(DecryptFailed):
        decrypt(encrypted_data, iv, session_key=session_key)


def test_the_cipher_refuses_wrong_sizes() -> None:
    with pytest.raises(ValueError, match="16-byte"):
        CIPHER.decrypt_aes128_cbc(b"k" * 16, b"i" * 16, b"d" * 15)
    with pytest.raises(ValueError, match="16-byte"):
        CIPHER.decrypt_aes128_cbc(b"k" * 32, b"i" * 16, b"d" * 16)
