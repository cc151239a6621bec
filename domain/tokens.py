"""Login tokens are opaque to clients and stored only as a hash.

A token is ``<route>.<random>``: the route is whatever the session store needs to find the user's
sessions from the token alone (a sharded store keeps each user in one place); it must not reveal
the user. A store that needs none gives ``""``, and the token is the random part alone.
"""

from __future__ import annotations

import hashlib

ROUTE_SEPARATOR = "."


def routed_token(route: str, secret: str) -> str:
    """A new token: the session store's route for its user (``SessionStore.token_route``), a
    ``.``, then the random ``secret``; just the secret when the store needs no route."""
    return f"{route}{ROUTE_SEPARATOR}{secret}" if route else secret


def hash_token(token: str) -> bytes:
    """What the session store keys by (the token itself is never stored): the SHA-256 of the
    whole token (the last 32 bytes), preceded, when the token has a route, by the route and its
    ``.`` as sent, so a store can find the user's sessions from the token alone.

    A fast hash is right here: tokens carry 256 random bits, so there is nothing to brute-force.
    """
    digest = hashlib.sha256(token.encode()).digest()
    route, separator, _ = token.partition(ROUTE_SEPARATOR)
    return (route + separator).encode() + digest if separator else digest


def hash_code(code: str) -> bytes:
    """SHA-256 of a login code, so codes do not sit in the shared store in clear text."""
    return hashlib.sha256(b"code:" + code.encode()).digest()
