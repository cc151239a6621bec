"""Thin handlers of the account routes: the user's own sessions and account, and the back
office (``ADMIN_TOKEN``). The bodies come from ``entrypoints.bodies``, shared with the CLI."""

from __future__ import annotations

import re

from sanic import HTTPResponse, Request

from domain.accounts import AccountQuery
from domain.errors import InvalidRequest
from domain.use_cases.accounts import DEFAULT_EVENTS, EventsRequest, UserRequest
from domain.use_cases.authenticate import Authenticated, AuthenticateRequest
from domain.use_cases.my_sessions import MySessionsRequest, RevokeMySessionRequest
from entrypoints import bodies, schemas
from entrypoints.handlers import json_response, origin_of, require_admin, use_cases_of
from entrypoints.http import token_of

_WHOLE = re.compile(r"[0-9]{1,19}")
NO_CONTENT = 204


async def _current(request: Request) -> Authenticated:
    authenticate = use_cases_of(request).authenticate
    return await authenticate.execute(AuthenticateRequest(token=token_of(request)))


def _whole(request: Request, name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _WHOLE.fullmatch(raw):
        raise InvalidRequest(f"`{name}` must be a whole number.")
    return int(raw)


# ---- the user's own ---------------------------------------------------------------------------

async def my_sessions(request: Request) -> HTTPResponse:
    current = await _current(request)
    sessions = await use_cases_of(request).list_my_sessions.execute(
        MySessionsRequest(user_id=current.session.user_id)
    )
    return json_response(bodies.sessions_body(sessions, current.session_id))


async def revoke_my_session(request: Request, session_id: str) -> HTTPResponse:
    current = await _current(request)
    await use_cases_of(request).revoke_my_session.execute(RevokeMySessionRequest(
        user_id=current.session.user_id, session_id=session_id, origin=origin_of(request),
    ))
    return HTTPResponse(status=NO_CONTENT)


async def delete_me(request: Request) -> HTTPResponse:
    current = await _current(request)
    await use_cases_of(request).delete_account.execute(
        UserRequest(user_id=current.session.user_id, origin=origin_of(request))
    )
    return HTTPResponse(status=NO_CONTENT)


# ---- the back office --------------------------------------------------------------------------

async def admin_user(request: Request, user_id: int) -> HTTPResponse:
    require_admin(request)
    view = await use_cases_of(request).show_account.execute(UserRequest(user_id))
    body: schemas.AdminUserResponse = {"user": bodies.admin_user(view)}
    return json_response(body)


async def admin_find_users(request: Request) -> HTTPResponse:
    require_admin(request)
    args = request.args
    query = AccountQuery(app=args.get("app"), openid=args.get("openid"),
                         unionid=args.get("unionid"), phone=args.get("phone"))
    views = await use_cases_of(request).find_accounts.execute(query)
    body: schemas.AdminUsersResponse = {"users": [bodies.admin_user(v) for v in views]}
    return json_response(body)


async def admin_ban(request: Request, user_id: int) -> HTTPResponse:
    require_admin(request)
    reason = schemas.read(schemas.BAN, request.body, allow_empty=True).get("reason")
    await use_cases_of(request).ban.execute(
        UserRequest(user_id, origin_of(request), reason=reason)
    )
    return HTTPResponse(status=NO_CONTENT)


async def admin_unban(request: Request, user_id: int) -> HTTPResponse:
    require_admin(request)
    await use_cases_of(request).unban.execute(UserRequest(user_id, origin_of(request)))
    return HTTPResponse(status=NO_CONTENT)


async def admin_revoke_sessions(request: Request, user_id: int) -> HTTPResponse:
    require_admin(request)
    await use_cases_of(request).revoke_sessions.execute(
        UserRequest(user_id, origin_of(request))
    )
    return HTTPResponse(status=NO_CONTENT)


async def admin_delete_user(request: Request, user_id: int) -> HTTPResponse:
    require_admin(request)
    await use_cases_of(request).delete_account.execute(
        UserRequest(user_id, origin_of(request))
    )
    return HTTPResponse(status=NO_CONTENT)


async def admin_user_events(request: Request, user_id: int) -> HTTPResponse:
    require_admin(request)
    return await _events(request, user_id, None)


async def admin_events(request: Request) -> HTTPResponse:
    require_admin(request)
    return await _events(request, None, request.args.get("type"))


async def _events(request: Request, user_id: int | None, type_: str | None) -> HTTPResponse:
    limit = _whole(request, "limit", DEFAULT_EVENTS)
    assert limit is not None
    page = await use_cases_of(request).list_events.execute(EventsRequest(
        user_id=user_id, type=type_, limit=limit, before=request.args.get("before"),
    ))
    return json_response(bodies.events_body(page))
