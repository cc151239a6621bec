"""``python -m entrypoints.admin``: the back office from a shell.

A second driving adapter next to the HTTP one: the same settings (the environment, ``.env``,
``*_FILE``), the same container and the same use cases as the admin routes; it prints the admin
API's bodies as JSON on stdout. After a change (ban, unban, revoke, delete) it prints the user as
``show`` does. Exit status: 0 done; 1 unknown user; 2 usage error (bad arguments, a bad value);
3 a store could not be reached (the error body on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from domain.accounts import AccountQuery, Origin
from domain.errors import DomainError, InvalidRequest
from domain.platform_errors import UnknownUser
from domain.use_cases.accounts import DEFAULT_EVENTS, EventsRequest, UserRequest
from entrypoints import bodies

EXIT_OK, EXIT_UNKNOWN_USER, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
ORIGIN = Origin(user_agent="python -m entrypoints.admin")
"""How the audit trail shows the changes made from the shell."""


def parser() -> argparse.ArgumentParser:
    commands = argparse.ArgumentParser(
        prog="python -m entrypoints.admin", description="The back office from a shell."
    )
    sub = commands.add_subparsers(dest="command", required=True)
    for name, about in (("show", "a user, its identities and live sessions"),
                        ("unban", "lift a ban"), ("revoke", "end every session of a user")):
        sub.add_parser(name, help=about).add_argument("id", type=int)
    find = sub.add_parser("find", help="users by (app, openid), unionid or phone")
    find.add_argument("--app")
    find.add_argument("--openid")
    find.add_argument("--unionid")
    find.add_argument("--phone")
    ban = sub.add_parser("ban", help="ban a user: its tokens die, its logins are refused")
    ban.add_argument("id", type=int)
    ban.add_argument("--reason")
    delete = sub.add_parser("delete", help="close a user's account (erases its identities)")
    delete.add_argument("id", type=int)
    delete.add_argument("--yes", action="store_true", required=True,
                        help="confirm: the account cannot be restored")
    events = sub.add_parser("events", help="a user's events, newest first")
    events.add_argument("id", type=int)
    events.add_argument("--limit", type=int, default=DEFAULT_EVENTS)
    events.add_argument("--before", help="the `next` of the previous page")
    return commands


async def run(container: Any, args: argparse.Namespace) -> Any:
    """Run one command on the container's use cases; return the body to print."""

    async def use_case(name: str) -> Any:
        provided = getattr(container, f"{name}_use_case")()
        return await provided if inspect.isawaitable(provided) else provided

    async def show(user_id: int) -> dict[str, Any]:
        view = await (await use_case("show_account")).execute(UserRequest(user_id))
        return {"user": bodies.admin_user(view)}

    command = args.command
    if command == "find":
        query = AccountQuery(app=args.app, openid=args.openid, unionid=args.unionid,
                             phone=args.phone)
        views = await (await use_case("find_accounts")).execute(query)
        return {"users": [bodies.admin_user(view) for view in views]}
    if command == "events":
        page = await (await use_case("list_events")).execute(
            EventsRequest(user_id=args.id, limit=args.limit, before=args.before)
        )
        return bodies.events_body(page)
    if command != "show":
        name = {"ban": "ban", "unban": "unban", "revoke": "revoke_sessions",
                "delete": "delete_account"}[command]
        reason = getattr(args, "reason", None)
        await (await use_case(name)).execute(UserRequest(args.id, ORIGIN, reason=reason))
    return await show(args.id)


async def _main(args: argparse.Namespace) -> Any:
    from container import Container
    from settings import Settings

    settings = Settings.from_env()
    container = Container()
    container.config.from_dict(settings.as_config())
    if not settings.uses_redis:
        print("warning: without REDIS_URL the sessions are the service process's own memory: "
              "this command cannot end them", file=sys.stderr)
    try:
        return await run(container, args)
    finally:
        shutdown = container.shutdown_resources()
        if inspect.isawaitable(shutdown):
            await shutdown


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a usage error exits with 2
    try:
        body = asyncio.run(_main(args))
    except DomainError as error:
        print(orjson.dumps({"error": {"code": error.code, "message": error.detail}}).decode(),
              file=sys.stderr)
        if isinstance(error, UnknownUser):
            return EXIT_UNKNOWN_USER
        return EXIT_USAGE if isinstance(error, InvalidRequest) else EXIT_UNAVAILABLE
    except ValueError as error:  # a setting (ConfigError)
        print(f"configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
