"""The ``Cipher`` port on the ``cryptography`` package (OpenSSL): no hand-written AES."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from domain import open_data

_BLOCK = 16


class CryptographyCipher(open_data.Cipher):
    """AES-128-CBC decryption of whole blocks; padding is the domain's to check."""

    def decrypt_aes128_cbc(self, key: bytes, iv: bytes, data: bytes) -> bytes:
        if len(key) != _BLOCK or len(iv) != _BLOCK or not data or len(data) % _BLOCK:
            raise ValueError("AES-128-CBC needs a 16-byte key and IV and whole 16-byte blocks")
        decryptor = Cipher(algorithms.AES128(key), modes.CBC(iv)).decryptor()
        return decryptor.update(data) + decryptor.finalize()
