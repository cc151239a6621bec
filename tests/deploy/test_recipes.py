"""The recipes this machine cannot run (no container engine, no cluster, no systemd as PID 1)
are held to what the tests do run: the same commands as the Makefile, the runtime lock, settings
the service accepts, the Kubernetes schemas, and ``systemd-analyze verify``."""

from __future__ import annotations

import getpass
import grp
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from entrypoints.app import create_app
from settings import Settings
from tests.serving import make_container

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest with the preStop `sleep` action


def make_variables() -> dict[str, str]:
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    return {name: value.strip() for name, value in
            re.findall(r"^([A-Z_]+) *[:?]?= *(.*)$", text, re.MULTILINE)}


def expand(text: str, variables: dict[str, str]) -> str:
    while (found := re.search(r"\$\((\w+)\)", text)) is not None:
        text = text.replace(found.group(0), variables.get(found.group(1), ""))
    return " ".join(text.split())


def make_recipe(target: str) -> list[str]:
    """The commands of ``target`` in the Makefile, its variables expanded."""
    variables = make_variables()
    lines = (ROOT / "Makefile").read_text().splitlines()
    names = {target, expand(target, variables)}
    start = next(i for i, line in enumerate(lines)
                 if line.split(":")[0] in names and ":" in line and not line.startswith("\t"))
    recipe = []
    for line in lines[start + 1:]:
        if not line.startswith("\t"):
            break
        recipe.append(expand(line.strip().lstrip("@"), variables))
    return recipe


RUN = make_recipe("run")[-1]
MIGRATE = make_recipe("migrate")[-1]
INSTALL = next(line for line in make_recipe("$(RUN_STAMP)") if "pip install" in line)


def test_the_makefile_commands_are_the_ones_the_recipes_name() -> None:
    assert RUN == ".venv/bin/python -m entrypoints"
    assert MIGRATE == ".venv/bin/python -m adapters.sqlalchemy.migrate"
    assert "--require-hashes" in INSTALL.split()
    assert INSTALL.endswith("-r requirements.lock")


def as_make(command: list[str]) -> str:
    """A recipe's command as the Makefile spells it: the image's WORKDIR is the checkout."""
    (workdir,) = [arg for op, arg in dockerfile() if op == "WORKDIR"]
    return " ".join([command[0].removeprefix(f"{workdir}/"), *command[1:]])


def dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_image_installs_the_runtime_lock_as_make_does_and_runs_as_make_run() -> None:
    instructions = dockerfile()
    runs = [arg for op, arg in instructions if op == "RUN"]
    installs = [part.strip() for run in runs for part in run.split("&&") if "pip install" in part]
    assert len(installs) == 1
    assert set(INSTALL.split()) <= set(installs[0].split())  # --no-cache-dir on top
    assert "requirements-dev.lock" not in (ROOT / "Dockerfile").read_text()
    assert "requirements-dev.lock" in (ROOT / ".dockerignore").read_text().split()

    (cmd,) = [arg for op, arg in instructions if op == "CMD"]
    assert as_make(yaml.safe_load(cmd)) == RUN


def test_the_image_runs_unprivileged_on_all_addresses_with_a_healthcheck() -> None:
    instructions = dockerfile()
    (user,) = [arg for op, arg in instructions if op == "USER"]
    assert user not in ("root", "0")
    env = " ".join(arg for op, arg in instructions if op == "ENV").split()
    assert "HOST=0.0.0.0" in env
    (check,) = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert "/healthz" in check


def compose() -> dict[str, Any]:
    text = (ROOT / "compose.yaml").read_text()
    # What `docker compose` does with ${NAME:?message} from the .env beside it.
    text = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: f"compose-{m.group(1).lower()}-" + "x" * 32,
                  text)
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_compose_migrates_once_then_serves_on_redis_with_aof_and_mariadb() -> None:
    services = compose()["services"]
    assert set(services) == {"weapp-login", "migrate", "redis", "mariadb"}

    assert as_make(services["migrate"]["command"]) == MIGRATE
    assert services["migrate"]["restart"] == "no"
    assert services["weapp-login"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"}
    assert "command" not in services["weapp-login"]  # the image's CMD: make run's command

    redis = services["redis"]["command"]
    assert redis[redis.index("--appendonly") + 1] == "yes"

    settings = Settings.from_env(services["weapp-login"]["environment"])
    assert settings.production
    assert settings.as_config()["database_url"].startswith("mysql+aiomysql://")
    assert Settings.from_env(services["migrate"]["environment"])


def k8s_documents() -> list[dict[str, Any]]:
    return [doc for path in sorted(K8S.glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict[str, Any]:
    (doc,) = [doc for doc in k8s_documents() if doc["kind"] == kind]
    return doc


def test_every_kubernetes_manifest_is_valid_against_the_schemas() -> None:
    documents = k8s_documents()
    assert {doc["kind"] for doc in documents} >= {
        "Deployment", "Service", "Job", "PodDisruptionBudget", "HorizontalPodAutoscaler"}
    for doc in documents:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_schemas_catch_a_misspelt_field() -> None:
    deployment = by_kind("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProb"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_deployment_probes_drains_and_is_configured_as_the_service_accepts() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"

    drain = create_app(make_container()).config.GRACEFUL_SHUTDOWN_TIMEOUT
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain

    config = by_kind("ConfigMap")["data"] | by_kind("Secret")["stringData"]
    env = config | {item["name"]: item["value"] for item in container["env"]}
    assert Settings.from_env(env).production


def test_the_migrate_job_runs_make_migrates_command_with_the_services_settings() -> None:
    job = by_kind("Job")["spec"]["template"]["spec"]
    (container,) = job["containers"]
    deployment = by_kind("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert as_make(container["command"]) == MIGRATE
    assert container["image"] == deployment["image"]
    assert container["envFrom"] == deployment["envFrom"]
    assert job["restartPolicy"] == "Never"


UNIT = ROOT / "deploy" / "weapp-login.service"
HARDENING = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "PrivateDevices=yes", "CapabilityBoundingSet=", "SystemCallFilter=@system-service"]


def test_the_systemd_unit_runs_make_runs_command_hardened() -> None:
    lines = UNIT.read_text().splitlines()
    assert any(line.startswith("EnvironmentFile=/") for line in lines)
    assert set(HARDENING) <= set(lines)
    (start,) = [line.removeprefix("ExecStart=") for line in lines if line.startswith("ExecStart=")]
    assert start == f"/opt/weapp-login/{RUN}"


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here (Debian's systemd package has it)")
    # Installed where this checkout is, as this user: verify checks that ExecStart exists.
    user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    text = UNIT.read_text().replace("/opt/weapp-login", str(ROOT))
    text = re.sub(r"^User=.*$", f"User={shlex.quote(user)}", text, flags=re.MULTILINE)
    text = re.sub(r"^Group=.*$", f"Group={shlex.quote(group)}", text, flags=re.MULTILINE)
    unit = tmp_path / UNIT.name
    unit.write_text(text)

    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            check=False)

    # verify exits 0 on unknown or malformed options but names them: both must stay empty.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
