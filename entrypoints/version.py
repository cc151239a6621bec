"""The service's version, from one place: ``version`` in ``pyproject.toml``.

Read once, when the process starts: from the source tree's ``pyproject.toml`` where the service
runs from one (``python -m entrypoints`` does; an installed copy's metadata may lag behind it),
else from the metadata of the installed distribution.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "weapp-login"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def service_version(pyproject: Path = PYPROJECT) -> str:
    try:
        with pyproject.open("rb") as file:
            project = tomllib.load(file).get("project", {})
    except FileNotFoundError:
        project = {}
    if project.get("name") == DISTRIBUTION and isinstance(project.get("version"), str):
        return str(project["version"])
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


VERSION = service_version()
