"""A downstream service that trusts weapp-login's access tokens without calling it.

The team's own API, in a few lines: each request's ``Authorization: Bearer <access token>`` is
checked offline against weapp-login's published keys (its JWKS), with PyJWT's ``PyJWKClient``:
signature (``EdDSA`` only), ``iss``, ``aud``, ``exp``. The keys are fetched once and kept five
minutes; a token signed by a key not seen yet (weapp-login rotated its key) makes the client
fetch the set again, at most once per ``--refetch-cooldown`` seconds (so a stream of made-up key
ids cannot make it hammer weapp-login).
A token stays valid here until its ``exp`` even after a logout: pick forward auth or
introspection when a logout must act at once (docs/TOKENS.md).

Needs ``pyjwt[crypto]``. Run weapp-login with ``TOKEN_FORMAT=jwt``, then::

    python examples/downstream.py --weapp-login http://127.0.0.1:8000 --port 9000
    curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:9000/whoami

``GET /whoami`` answers 200 ``{"user_id", "session_id", "app", "platform"}``, or 401.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt


class AccessTokens:
    """Checks weapp-login access tokens against its JWKS (thread-safe: one per process)."""

    def __init__(self, weapp_login: str, *, issuer: str = "weapp-login",
                 audience: str = "weapp-login", refetch_cooldown: float = 30) -> None:
        self._keys = jwt.PyJWKClient(f"{weapp_login.rstrip('/')}/.well-known/jwks.json",
                                     cache_keys=True, lifespan=300, timeout=5,
                                     cooldown_duration=refetch_cooldown)
        self._issuer = issuer
        self._audience = audience

    def claims(self, token: str) -> dict[str, Any]:
        """The token's claims; ``jwt.PyJWTError`` for any token that is not valid now."""
        key = self._keys.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["EdDSA"], issuer=self._issuer, audience=self._audience,
            options={"require": ["iss", "aud", "sub", "sid", "iat", "exp"]},
        )
        return claims


def serve(tokens: AccessTokens, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/whoami":
                return self._answer(404, {"error": "not found"})
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            try:
                if scheme.lower() != "bearer":
                    raise jwt.InvalidTokenError("no bearer token")
                claims = tokens.claims(token.strip())
            except jwt.PyJWTError:
                return self._answer(401, {"error": "unauthorized"})
            return self._answer(200, {"user_id": int(claims["sub"]), "session_id": claims["sid"],
                                      "app": claims["app"], "platform": claims["platform"]})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weapp-login", required=True, help="the service's base URL")
    parser.add_argument("--issuer", default="weapp-login")
    parser.add_argument("--audience", default="weapp-login")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--refetch-cooldown", type=float, default=30)
    args = parser.parse_args()
    tokens = AccessTokens(args.weapp_login, issuer=args.issuer, audience=args.audience,
                          refetch_cooldown=args.refetch_cooldown)
    server = serve(tokens, args.host, args.port)
    print(f"listening on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
