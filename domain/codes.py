"""The grammar of the one-time codes a mini-program hands to its back end.

``wx.login()``'s login code and the ``getPhoneNumber`` button's phone code are both 1 to 128
printable ASCII characters without spaces (``!`` .. ``~``). This module is the one place that
says so: the HTTP bodies, the phone use case and the simulator all read it from here.
"""

from __future__ import annotations

import re

MAX_CODE_LENGTH = 128
CODE_PATTERN = "^[!-~]+$"
"""Printable ASCII without spaces; written so that JSON Schema, Rust's and Python's ``re``
(with ``fullmatch``) read it alike."""

_CODE = re.compile(CODE_PATTERN)


def is_well_formed_code(code: str) -> bool:
    """Whether ``code`` is 1 to ``MAX_CODE_LENGTH`` characters of ``!`` .. ``~``."""
    return len(code) <= MAX_CODE_LENGTH and _CODE.fullmatch(code) is not None
