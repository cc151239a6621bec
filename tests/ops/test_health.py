"""``/healthz`` says the process serves, and which version of the service it is."""

from __future__ import annotations

import tomllib
from pathlib import Path

import aiohttp

from entrypoints.version import service_version
from tests.ops.conftest import FakedService

ROOT = Path(__file__).resolve().parents[2]


def pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


async def test_healthz_reports_the_version_in_pyproject(faked_service: FakedService) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{faked_service.url}/healthz") as reply:
        assert reply.status == 200
        body = await reply.json()
    assert body == {"status": "ok", "version": pyproject_version()}


def test_another_projects_pyproject_is_not_taken_for_this_ones(tmp_path: Path) -> None:
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nname = "something-else"\nversion = "9.9.9"\n')

    assert service_version(other) != "9.9.9"
    assert service_version(tmp_path / "missing.toml") != "9.9.9"
