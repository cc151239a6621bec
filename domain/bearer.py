"""The bearer-token grammar: what ``Authorization: Bearer <token>`` may carry.

One definition for both sides: the HTTP edge refuses any other token, and the settings refuse,
at start, a configured token (``ADMIN_TOKEN``, ``SERVICE_TOKEN``) that a client could not send.
"""

from __future__ import annotations

import re

BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]{16,1024}")
"""RFC 6750's ``b64token`` characters, 16 to 1024 of them (every token the service issues fits,
a signed access token with long ``TOKEN_ISSUER`` and ``TOKEN_AUDIENCE`` values too)."""

BEARER_TOKEN_CHARACTERS = "A-Z a-z 0-9 - . _ ~ + / ="  # noqa: S105 (a description)
"""The characters of :data:`BEARER_TOKEN`, as error messages spell them."""
