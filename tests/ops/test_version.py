"""One version: ``pyproject.toml``'s, which ``/healthz``, ``/openapi.json`` and the client share.

``pyproject.toml`` writes it the Python way (PEP 440, ``2.0.0.dev0``) and the client's
``package.json`` the npm way (SemVer, ``2.0.0-dev.0``): the two spell the same release.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import aiohttp
import pytest
from packaging.version import Version

from tests.ops.conftest import FakedService

ROOT = Path(__file__).resolve().parents[2]


def as_semver(pep440: str) -> str:
    """The SemVer spelling of a PEP 440 release: ``2.0.0.dev0`` → ``2.0.0-dev.0``,
    ``2.0.0rc1`` → ``2.0.0-rc.1``, ``2.0.0`` → ``2.0.0``."""
    version = Version(pep440)
    assert (version.epoch, version.post, version.local) == (0, None, None), pep440
    assert len(version.release) == 3, f"{pep440}: three numbers, as SemVer has"
    core = ".".join(str(part) for part in version.release)
    if version.pre is not None:
        label = {"a": "alpha", "b": "beta", "rc": "rc"}[version.pre[0]]
        return f"{core}-{label}.{version.pre[1]}"
    if version.dev is not None:
        return f"{core}-dev.{version.dev}"
    return core


@pytest.mark.parametrize(("pep440", "semver"), [
    ("2.0.0.dev0", "2.0.0-dev.0"), ("2.0.0rc1", "2.0.0-rc.1"), ("2.0.0b2", "2.0.0-beta.2"),
    ("2.0.0", "2.0.0"), ("10.1.3", "10.1.3"),
])
def test_the_two_spellings_map_one_to_the_other(pep440: str, semver: str) -> None:
    assert as_semver(pep440) == semver


def pyproject_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as file:
        version: str = tomllib.load(file)["project"]["version"]
    return version


async def test_healthz_openapi_and_the_client_agree_with_pyproject(
    faked_service: FakedService,
) -> None:
    version = pyproject_version()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{faked_service.url}/healthz") as reply:
            healthz = (await reply.json())["version"]
        async with http.get(f"{faked_service.url}/openapi.json") as reply:
            openapi = (await reply.json())["info"]["version"]
    client = json.loads((ROOT / "clients/weapp/package.json").read_text())["version"]

    assert (healthz, openapi, client) == (version, version, as_semver(version))


def test_service_and_client_carry_the_same_mit_licence() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    client = json.loads((ROOT / "clients/weapp/package.json").read_text())
    licence = (ROOT / "LICENSE").read_text()

    assert project["license"] == client["license"] == "MIT"
    assert licence.startswith("MIT License")
    assert "weapp-login contributors" in licence
    assert (ROOT / "clients/weapp/LICENSE").read_text() == licence
