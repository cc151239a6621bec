"""``python -m entrypoints.admin`` as a process, on the service's MariaDB and Redis: the same use
cases as the admin routes, JSON out, exit codes 0, 1 (unknown user) and 2 (usage)."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import orjson
import pytest

from tests.accounts.conftest import Accounts
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.integration


async def admin(accounts: Accounts, *args: str) -> tuple[int, Any, str]:
    """Run the command with the service's settings; its exit status, JSON out and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "entrypoints.admin", *args, cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **accounts.env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, orjson.loads(out) if out else None, err.decode()


async def test_show_and_find_print_the_admin_apis_bodies(accounts: Accounts) -> None:
    login = await accounts.login("k1", "openid-alice", unionid="union-alice")
    user_id = login["user"]["id"]

    status, shown, _ = await admin(accounts, "show", str(user_id))
    assert status == 0
    http = await accounts.call("GET", f"/api/v1/admin/users/{user_id}")
    assert shown == http

    status, found, _ = await admin(accounts, "find", "--unionid", "union-alice")
    assert (status, [u["id"] for u in found["users"]]) == (0, [user_id])
    status, found, _ = await admin(accounts, "find", "--app", "default", "--openid", "openid-alice")
    assert (status, [u["id"] for u in found["users"]]) == (0, [user_id])


async def test_a_ban_from_the_shell_kills_the_users_tokens_and_refuses_its_logins(
    accounts: Accounts,
) -> None:
    login = await accounts.login("k2")
    user_id = login["user"]["id"]

    status, shown, _ = await admin(accounts, "ban", str(user_id), "--reason", "fraud")

    assert status == 0
    assert shown["user"]["status"] == "banned"
    await accounts.call("GET", "/api/v1/me", token=login["token"], expect=401)
    await accounts.login("k3", expect=403)
    status, shown, _ = await admin(accounts, "unban", str(user_id))
    assert (status, shown["user"]["status"]) == (0, "active")
    again = await accounts.login("k4")
    status, _, _ = await admin(accounts, "revoke", str(user_id))
    assert status == 0
    await accounts.call("GET", "/api/v1/me", token=again["token"], expect=401)

    await accounts.flush_audit()
    status, events, _ = await admin(accounts, "events", str(user_id), "--limit", "3")
    assert status == 0
    assert [e["type"] for e in events["events"]] == ["session_revoked", "login", "unbanned"]
    assert events["events"][0]["user_agent"] == "python -m entrypoints.admin"
    assert events["next"] is not None


async def test_delete_needs_yes_and_then_closes_the_account(accounts: Accounts) -> None:
    login = await accounts.login("k5")
    user_id = str(login["user"]["id"])

    status, out, err = await admin(accounts, "delete", user_id)
    assert (status, out) == (2, None)
    assert "--yes" in err
    await accounts.call("GET", "/api/v1/me", token=login["token"])

    status, shown, _ = await admin(accounts, "delete", user_id, "--yes")
    assert (status, shown["user"]["status"]) == (0, "deleted")
    await accounts.call("GET", "/api/v1/me", token=login["token"], expect=401)


@pytest.mark.parametrize("command", [["show"], ["ban"], ["unban"], ["revoke"], ["delete", "--yes"],
                                     ["events"]])
async def test_an_unknown_user_exits_1_on_every_command(
    accounts: Accounts, command: list[str]
) -> None:
    status, out, err = await admin(accounts, command[0], "424242", *command[1:])
    assert (status, out) == (1, None)
    assert orjson.loads(err)["error"]["code"] == "unknown_user"


@pytest.mark.parametrize("args", [[], ["nope"], ["show"], ["show", "x"], ["find"],
                                  ["find", "--openid", "o"], ["events", "1", "--limit", "0"],
                                  ["ban", "1", "--reason", "x" * 201]])
async def test_a_usage_error_exits_2(accounts: Accounts, args: list[str]) -> None:
    if args[:1] == ["ban"]:
        args[1] = str((await accounts.login("k6"))["user"]["id"])
    status, out, _ = await admin(accounts, *args)
    assert (status, out) == (2, None)
