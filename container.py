"""The composition root: the one place that sees both the adapters and the HTTP edge.

Reads top-down: configuration → resources → adapters (chosen by configuration) → use cases.
Resources are opened by the app's ``before_server_start`` listener and closed after it stops.
"""

from __future__ import annotations

from dependency_injector import containers, providers
from prometheus_client import CollectorRegistry

from adapters.access_tokens import JoserfcAccessTokenSigner
from adapters.apps import app_directory, open_platforms
from adapters.audit import open_audit_trail
from adapters.crypto import CryptographyCipher
from adapters.instrumented import SESSIONS, USERS, PortMetrics
from adapters.memory import (
    InMemoryCodeExchangeRegistry,
    InMemoryRateLimiter,
    InMemorySessionStore,
)
from adapters.memory.refresh_tokens import InMemoryRefreshTokenStore
from adapters.redis.client import open_redis
from adapters.redis.code_exchange import RedisCodeExchangeRegistry
from adapters.redis.legacy_sessions import LegacyAwareSessionStore, LegacySessionReader
from adapters.redis.rate_limit import RedisRateLimiter
from adapters.redis.refresh_tokens import RedisRefreshTokenStore
from adapters.redis.sessions import RedisSessionStore
from adapters.sqlalchemy.accounts import SqlAlchemyAccountStore
from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head
from adapters.sqlalchemy.outbox import SqlAlchemyOutbox, WebhookMessages
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from adapters.system import SystemClock
from adapters.webhooks import run_webhooks
from adapters.wechat.http import open_client_session
from domain.access_token import TokenTimings
from domain.code_exchange import ExchangeTimings
from domain.credentials import JwtCredentials, OpaqueCredentials
from domain.use_cases.accounts import (
    BanUseCase,
    DeleteAccountUseCase,
    FindAccountsUseCase,
    ListEventsUseCase,
    RevokeSessionsUseCase,
    ShowAccountUseCase,
    UnbanUseCase,
)
from domain.use_cases.authenticate import AuthenticateUseCase
from domain.use_cases.check_session_key import CheckSessionKeyUseCase
from domain.use_cases.decrypt import DecryptUseCase
from domain.use_cases.login import LoginUseCase
from domain.use_cases.logout import LogoutUseCase
from domain.use_cases.my_sessions import ListMySessionsUseCase, RevokeMySessionUseCase
from domain.use_cases.phone import GetPhoneNumberUseCase
from domain.use_cases.policy import SessionPolicy
from domain.use_cases.readiness import ReadinessUseCase
from domain.use_cases.refresh import RefreshUseCase
from domain.use_cases.send_message import SendMessageUseCase


class Container(containers.DeclarativeContainer):
    config = providers.Configuration(strict=True)

    # Resources: one of each per worker process.
    platform_http = providers.Resource(
        open_client_session,
        timeout=config.wechat_timeout_seconds,
        limit=config.platform_connections,
    )
    redis_client = providers.Resource(
        open_redis,
        url=config.redis_url,
        cluster=config.redis_cluster,
        sentinels=config.redis_sentinels,
        sentinel_master=config.redis_sentinel_master,
        sentinel_password=config.redis_sentinel_password,
    )
    database = providers.Resource(
        open_engine, url=config.database_url, pool_size=config.database_pool_size
    )

    migrate = providers.Callable(
        upgrade_to_head, url=config.database_url, wechat_appid=config.wechat.appid
    )

    # Adapters.
    clock = providers.Singleton(SystemClock)
    # Each backend's session store records the login's code in its own registry (one write).
    memory_code_registry = providers.Singleton(InMemoryCodeExchangeRegistry, clock=clock)
    redis_code_registry = providers.Singleton(
        RedisCodeExchangeRegistry, client=redis_client, key_prefix=config.redis_key_prefix
    )
    code_registry = providers.Selector(
        config.sessions_backend, memory=memory_code_registry, redis=redis_code_registry
    )
    redis_session_store = providers.Singleton(
        RedisSessionStore,
        client=redis_client,
        session_secret=config.session_secret,
        key_prefix=config.redis_key_prefix,
        registry=redis_code_registry,
    )
    session_store = providers.Selector(
        config.sessions_backend,
        memory=providers.Singleton(
            InMemorySessionStore,
            clock=clock,
            session_secret=config.session_secret,
            registry=memory_code_registry,
        ),
        redis=providers.Selector(
            config.legacy_sessions,
            off=redis_session_store,
            # Tokens issued by release 0.1.0 keep working beside the current store's.
            on=providers.Singleton(
                LegacyAwareSessionStore,
                current=redis_session_store,
                legacy=providers.Singleton(
                    LegacySessionReader,
                    client=redis_client,
                    wechat_secret=config.legacy_wechat_secret,
                    legacy_app=config.legacy_app,
                    key_prefix=config.redis_key_prefix,
                ),
            ),
        ),
    )
    refresh_tokens = providers.Selector(
        config.sessions_backend,
        memory=providers.Singleton(
            InMemoryRefreshTokenStore, clock=clock, session_secret=config.session_secret
        ),
        redis=providers.Singleton(
            RedisRefreshTokenStore,
            client=redis_client,
            session_secret=config.session_secret,
            key_prefix=config.redis_key_prefix,
        ),
    )
    access_token_signer = providers.Selector(
        config.token_format,
        opaque=providers.Object(None),
        jwt=providers.Singleton(
            JoserfcAccessTokenSigner,
            signing_key=config.jwt.signing_key,
            verify_keys=config.jwt.verify_keys,
            issuer=config.token_issuer,
            audience=config.token_audience,
            clock=clock,
        ),
    )
    rate_limiter = providers.Selector(
        config.sessions_backend,
        memory=providers.Singleton(InMemoryRateLimiter, clock=clock),
        redis=providers.Singleton(
            RedisRateLimiter, client=redis_client, key_prefix=config.redis_key_prefix
        ),
    )
    user_repository = providers.Singleton(SqlAlchemyUserRepository, engine=database)
    webhook_messages = providers.Selector(
        config.webhooks, on=providers.Singleton(WebhookMessages), off=providers.Object(None)
    )
    account_store = providers.Singleton(
        SqlAlchemyAccountStore, engine=database, webhooks=webhook_messages
    )
    audit_trail = providers.Resource(
        open_audit_trail, store=account_store, clock=clock,
        retention_days=config.audit_retention_days,
    )
    cipher = providers.Singleton(CryptographyCipher)

    # Instrumentation: what the use cases see of the ports, timed and counted.
    metrics_registry = providers.Singleton(CollectorRegistry, auto_describe=True)
    # The service's background work (started with the worker, not by the admin shell).
    webhooks = providers.Resource(
        run_webhooks,
        outbox=providers.Singleton(SqlAlchemyOutbox, engine=database),
        url=config.webhook_url,
        secret=config.webhook_secret,
        clock=clock,
        registry=metrics_registry,
    )
    port_metrics = providers.Singleton(PortMetrics, registry=metrics_registry)
    timed_sessions = providers.Singleton(
        SESSIONS.wrap, inner=session_store, metrics=port_metrics
    )
    timed_users = providers.Singleton(
        USERS.wrap, inner=user_repository, metrics=port_metrics
    )

    # The apps (adapters/apps.py): each its platform's clients (its simulator where it asks for
    # one), its calls-in-flight limit, its shared token, and its own code exchange.
    platforms = providers.Resource(
        open_platforms,
        apps=config.apps,
        session=platform_http,
        timeout=config.wechat_timeout_seconds,
        max_in_flight=config.wechat_max_in_flight,
        backlog=config.wechat_backlog,
        redis=providers.Selector(
            config.sessions_backend, memory=providers.Object(None), redis=redis_client
        ),
        key_prefix=config.redis_key_prefix,
        clock=clock,
        token_timings=providers.Singleton(
            TokenTimings, wait=config.token.wait_seconds, lock_ttl=config.token.lock_seconds
        ),
        metrics=port_metrics,
    )

    # Domain services and use cases.
    policy = providers.Singleton(
        SessionPolicy, ttl=config.session_ttl_seconds, max_age=config.session_max_age_seconds
    )
    apps = providers.Singleton(
        app_directory,
        apps=config.apps,
        platforms=platforms,
        registry=code_registry,
        timings=providers.Singleton(ExchangeTimings, pending_ttl=config.code_pending_seconds),
        metrics=port_metrics,
    )
    jwt_credentials = providers.Singleton(
        JwtCredentials,
        sessions=timed_sessions,
        signer=access_token_signer,
        refresh_tokens=refresh_tokens,
        access_ttl=config.access_token_ttl_seconds,
    )
    credentials = providers.Selector(
        config.token_format,
        opaque=providers.Singleton(OpaqueCredentials, sessions=timed_sessions),
        jwt=jwt_credentials,
    )
    login_use_case = providers.Factory(
        LoginUseCase,
        apps=apps,
        users=timed_users,
        sessions=timed_sessions,
        credentials=credentials,
        rate_limiter=rate_limiter,
        clock=clock,
        policy=policy,
        rate_per_minute=config.login_rate_per_minute,
        audit=audit_trail,
    )
    authenticate_use_case = providers.Factory(
        AuthenticateUseCase,
        sessions=timed_sessions,
        credentials=credentials,
        clock=clock,
        policy=policy,
    )
    logout_use_case = providers.Factory(
        LogoutUseCase, sessions=timed_sessions, credentials=credentials, audit=audit_trail,
        clock=clock,
    )
    refresh_use_case = providers.Selector(
        config.token_format,
        opaque=providers.Object(None),
        jwt=providers.Factory(
            RefreshUseCase,
            sessions=timed_sessions,
            refresh_tokens=refresh_tokens,
            credentials=jwt_credentials,
            clock=clock,
            policy=policy,
        ),
    )
    readiness_use_case = providers.Factory(
        ReadinessUseCase, sessions=timed_sessions, users=timed_users
    )
    phone_use_case = providers.Factory(GetPhoneNumberUseCase, apps=apps, phones=account_store)
    decrypt_use_case = providers.Factory(
        DecryptUseCase, sessions=timed_sessions, cipher=cipher, apps=apps
    )
    check_session_key_use_case = providers.Factory(
        CheckSessionKeyUseCase, apps=apps, users=timed_users, sessions=timed_sessions
    )
    send_message_use_case = providers.Factory(SendMessageUseCase, apps=apps, users=timed_users)

    # Accounts: the user's own and the back office's (HTTP and ``python -m entrypoints.admin``).
    list_my_sessions_use_case = providers.Factory(ListMySessionsUseCase, sessions=timed_sessions)
    revoke_my_session_use_case = providers.Factory(
        RevokeMySessionUseCase, sessions=timed_sessions, accounts=account_store, clock=clock
    )
    show_account_use_case = providers.Factory(
        ShowAccountUseCase, accounts=account_store, sessions=timed_sessions, apps=apps
    )
    find_accounts_use_case = providers.Factory(
        FindAccountsUseCase, accounts=account_store, sessions=timed_sessions, apps=apps
    )
    ban_use_case = providers.Factory(
        BanUseCase, accounts=account_store, sessions=timed_sessions, clock=clock
    )
    unban_use_case = providers.Factory(
        UnbanUseCase, accounts=account_store, sessions=timed_sessions, clock=clock
    )
    revoke_sessions_use_case = providers.Factory(
        RevokeSessionsUseCase, accounts=account_store, sessions=timed_sessions, clock=clock
    )
    delete_account_use_case = providers.Factory(
        DeleteAccountUseCase, accounts=account_store, sessions=timed_sessions, clock=clock
    )
    list_events_use_case = providers.Factory(ListEventsUseCase, accounts=account_store)
