"""Signed access tokens (JWT mode) with joserfc: JWS compact, ``EdDSA`` over Ed25519 keys.

The header names the signing key by ``kid``, its RFC 7638 thumbprint; a token verifies only
with a published key of that ``kid`` and only as ``EdDSA`` (``none``, ``HS256`` and every other
algorithm are refused before any key is used, so an HMAC "signed" with the public key never
verifies). Claims are then checked here, on every use: ``iss`` and ``aud`` exactly this
service's, ``exp`` in the future by the clock port, and each claim the domain reads present and
of its type. The signatures already verified are remembered (``VERIFIED_CACHE_SIZE``).

joserfc warns (``SecurityWarning``) that RFC 9864 deprecates the name ``EdDSA`` in favour of
``Ed25519``; the contract, and the libraries the team's other services use, speak ``EdDSA``, so
that one warning is silenced around the calls that raise it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from domain.ports import AccessTokenClaims, AccessTokenSigner, Clock

ALGORITHM = "EdDSA"
VERIFIED_CACHE_SIZE = 10_000
"""Tokens whose signature was verified, kept (oldest out first) with their payload so that a
token used again costs a dict lookup instead of an Ed25519 verification (about 100 µs). Only a
verified token's exact text gets in; its claims are still checked (``exp`` by the clock) on
every use. docs/PERFORMANCE.md has the figures."""
_STRINGS = ("sid", "app", "platform")


@contextmanager
def _eddsa_by_name() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        yield


def load_key(pem: str | bytes, *, private: bool) -> OKPKey:
    """An Ed25519 key from PEM (PKCS#8 private, or SubjectPublicKeyInfo public); ``ValueError``
    for anything else, without quoting the key."""
    try:
        key = OKPKey.import_key(pem)
    except (JoseError, ValueError, TypeError):
        raise ValueError("is not a PEM Ed25519 key") from None
    if key.curve_name != "Ed25519" or key.is_private != private:
        kind = "private" if private else "public"
        raise ValueError(f"is not an Ed25519 {kind} key")
    return key


def new_private_key_pem() -> bytes:
    """A new Ed25519 private key as PKCS#8 PEM (the development key)."""
    return OKPKey.generate_key("Ed25519", private=True).as_pem(private=True)


class JoserfcAccessTokenSigner(AccessTokenSigner):
    """``AccessTokenSigner`` with joserfc (see the module's docstring)."""

    def __init__(
        self,
        *,
        signing_key: str,
        verify_keys: Sequence[str],
        issuer: str,
        audience: str,
        clock: Clock,
    ) -> None:
        self._signing_key = load_key(signing_key, private=True)
        self._kid = self._signing_key.thumbprint()
        public = [OKPKey.import_key(self._signing_key.as_pem(private=False))]
        public += [load_key(pem, private=False) for pem in verify_keys]
        self._keys: dict[str, OKPKey] = {}
        for key in public:
            self._keys.setdefault(key.thumbprint(), key)
        self._issuer = issuer
        self._audience = audience
        self._clock = clock
        self._registry = jws.JWSRegistry(algorithms=[ALGORITHM])
        self._verified: dict[str, dict[str, Any]] = {}

    def sign(self, claims: AccessTokenClaims) -> str:
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(claims.user_id),
            "sid": claims.session_id,
            "app": claims.app,
            "platform": claims.platform,
            "iat": int(claims.issued_at),
            "exp": int(claims.expires_at),
        }
        header = {"alg": ALGORITHM, "kid": self._kid, "typ": "JWT"}
        with _eddsa_by_name():
            return jws.serialize_compact(
                header, _json(payload), self._signing_key, registry=self._registry
            )

    def verify(self, token: str) -> AccessTokenClaims | None:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._signed_claims(token)
            if claims is None:
                return None
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))  # the oldest entry
            self._verified[token] = claims
        return self._checked(claims)

    def _signed_claims(self, token: str) -> dict[str, Any] | None:
        """The payload of a token whose signature a published key verifies, else ``None``."""
        try:
            with _eddsa_by_name():
                compact = jws.extract_compact(token.encode("ascii"), None, self._registry)
                header = compact.headers()
                key = self._keys.get(str(header.get("kid")))
                if header.get("alg") != ALGORITHM or key is None:
                    return None
                if not jws.validate_compact(compact, key, registry=self._registry):
                    return None
            return _object(compact.payload)
        except (JoseError, ValueError, TypeError, UnicodeError):
            return None

    def jwks(self) -> dict[str, object]:
        keys = []
        for kid, key in self._keys.items():
            jwk = dict(key.as_dict(private=False))
            jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def _checked(self, claims: dict[str, Any]) -> AccessTokenClaims | None:
        sub, iat, exp = claims.get("sub"), claims.get("iat"), claims.get("exp")
        if (
            claims.get("iss") != self._issuer
            or claims.get("aud") != self._audience
            or not isinstance(sub, str)
            or not sub.isascii()
            or not sub.isdigit()
            or not all(isinstance(claims.get(name), str) for name in _STRINGS)
            or not isinstance(iat, int)
            or not isinstance(exp, int)
            or isinstance(iat, bool)
            or isinstance(exp, bool)
            or exp <= self._clock.now()
        ):
            return None
        return AccessTokenClaims(
            user_id=int(sub),
            session_id=claims["sid"],
            app=claims["app"],
            platform=claims["platform"],
            issued_at=float(iat),
            expires_at=float(exp),
        )


def _json(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def _object(payload: bytes) -> dict[str, Any]:
    value = orjson.loads(payload)
    if not isinstance(value, dict):
        raise TypeError("the payload is not a JSON object")
    return value
