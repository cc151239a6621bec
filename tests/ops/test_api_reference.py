"""docs/API.md, the reference for the service's users, cannot drift from what the service serves.

Checked against the running app's ``/openapi.json`` (which comes from the route table) and the
settings model: every endpoint has its section, every documented error of an endpoint is a row
of that section's table, no section describes an endpoint that is gone, and every setting is
described.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp

from settings import Settings
from tests.ops.conftest import FakedService

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "API.md"
HEADING = re.compile(r"^### `([A-Z]+) (/[^`]*)`", re.M)
ERROR_ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \|", re.M)
DOCUMENTED_CODE = re.compile(r"`([a-z_]+)`: ")


def sections() -> dict[tuple[str, str], str]:
    text = REFERENCE.read_text(encoding="utf-8")
    found = list(HEADING.finditer(text))
    ends = [match.start() for match in found[1:]] + [len(text)]
    return {
        (match.group(1), match.group(2)): text[match.end() : end]
        for match, end in zip(found, ends, strict=True)
    }


async def served_spec(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as client, client.get(f"{url}/openapi.json") as answer:
        assert answer.status == 200
        spec: dict[str, Any] = await answer.json()
        return spec


def served_errors(operation: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (status, code)
        for status, reply in operation["responses"].items()
        if status.startswith(("4", "5"))
        for code in DOCUMENTED_CODE.findall(reply.get("description", ""))
    }


async def test_every_served_endpoint_has_a_section_and_no_section_is_stale(
    faked_service: FakedService,
) -> None:
    spec = await served_spec(faked_service.url)
    served = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}

    assert sorted(served - sections().keys()) == [], "endpoints missing from docs/API.md"
    assert sorted(sections().keys() - served) == [], "docs/API.md describes endpoints not served"


async def test_every_documented_error_of_an_endpoint_is_a_row_of_its_table(
    faked_service: FakedService,
) -> None:
    spec = await served_spec(faked_service.url)
    documented = sections()
    missing, extra = [], []
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            key = (method.upper(), path)
            if key not in documented:
                continue
            rows = set(ERROR_ROW.findall(documented[key]))
            served = served_errors(operation)
            name = f"{method.upper()} {path}"
            missing += [f"{name}: {status} {code}" for status, code in served - rows]
            extra += [f"{name}: {status} {code}" for status, code in rows - served]
    assert sorted(missing) == [], "errors served but not in docs/API.md"
    assert sorted(extra) == [], "errors in docs/API.md that the endpoint does not answer"


def test_every_setting_is_described() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    names = [
        str(field.validation_alias or name).upper() for name, field in Settings.model_fields.items()
    ]
    assert [name for name in names if f"`{name}`" not in text] == []


def test_the_check_can_fail() -> None:
    """The patterns really find the reference's sections and rows."""
    documented = sections()
    assert ("POST", "/api/v1/login") in documented
    assert ("401", "invalid_code") in set(ERROR_ROW.findall(documented[("POST", "/api/v1/login")]))
