"""An app's credentials in the apps file: each given inline or in a file it names, checked.

A mistake raises :class:`FieldError` naming the field; its message never quotes a secret or a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from settings import keys


class FieldError(Exception):
    """What is wrong with one field of one app (``field`` empty: with the app's table)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def text(table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise FieldError(key, "must be a string")
    return value


def read_credential(table: dict[str, Any], name: str, directory: Path) -> tuple[str, bytes] | None:
    """``(field, content)`` of a credential given inline or as ``<name>_file``, or ``None``.

    A relative ``<name>_file`` is found beside the apps file; its trailing newline is dropped.
    """
    inline, path = text(table, name), text(table, f"{name}_file")
    if inline is not None and path is not None:
        raise FieldError(name, f"set either {name} or {name}_file, not both")
    if inline is not None:
        return name, inline.encode("utf-8")
    if path is None:
        return None
    try:
        content = (directory / path).read_bytes()
    except OSError as error:
        reason = error.strerror or "I/O error"
        raise FieldError(f"{name}_file", f"cannot be read ({path!r}: {reason})") from None
    return f"{name}_file", content.rstrip(b"\r\n")


def read_secret(where: str, content: bytes) -> str:
    try:
        secret = content.decode("utf-8")
    except UnicodeDecodeError:
        raise FieldError(where, "is not UTF-8 text") from None
    if not secret.strip():
        raise FieldError(where, "is empty")
    return secret


def alipay_keys(own: tuple[str, bytes], alipays: tuple[str, bytes]) -> tuple[str, str]:
    """The app's private key and Alipay's public key, loaded and checked, as PEM."""
    (private_at, private_data), (public_at, public_data) = own, alipays
    try:
        private = keys.load_private_key(private_data)
    except ValueError as error:
        raise FieldError(private_at, str(error)) from None
    try:
        public = keys.load_public_key(public_data)
    except ValueError as error:
        raise FieldError(public_at, str(error)) from None
    if keys.same_key(private, public):
        raise FieldError(public_at, "is the app's own public key; give Alipay's public key")
    return keys.private_key_pem(private), keys.public_key_pem(public)
