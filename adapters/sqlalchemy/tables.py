"""The schema as SQLAlchemy Core tables: what the repository queries and Alembic compares against.

Times are naive ``DATETIME(6)`` values in UTC (microseconds, no time zone arithmetic in the
database); the adapter converts them from and to the domain's Unix seconds. Strings compare
byte-wise on MySQL (``utf8mb4_bin``): openids are case-sensitive, and the default ``*_ci``
collations would merge two users whose openids differ only in case.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    text,
)
from sqlalchemy.dialects import mysql

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer(), "sqlite")
"""BIGINT, except on SQLite where only ``INTEGER PRIMARY KEY`` is the auto-incrementing rowid."""

Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin, spelled for both MySQL dialect names.
MYSQL_TABLE_OPTIONS: dict[str, Any] = {
    f"{dialect}_{option}": value
    for dialect in ("mysql", "mariadb")
    for option, value in (("engine", "InnoDB"), ("charset", "utf8mb4"), ("collate", "utf8mb4_bin"))
}

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("last_login_at", Timestamp, nullable=False),
    Column("phone", String(32), nullable=True),  # E.164, from getuserphonenumber (0002)
    # active | banned | deleted (0004)
    Column("status", String(16), nullable=False, server_default=text("'active'")),
    **MYSQL_TABLE_OPTIONS,
)

user_identities = Table(
    "user_identities",
    metadata,
    Column("platform", String(16), nullable=False),
    Column("appid", String(64), nullable=False),  # the platform's id of the app (WeCom: corpid)
    Column("openid", String(64), nullable=False),  # the platform's user id for that app
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("unionid", String(64), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("last_login_at", Timestamp, nullable=False),
    PrimaryKeyConstraint("platform", "appid", "openid"),
    Index("ix_user_identities_user_id", "user_id"),
    Index("ix_user_identities_unionid", "platform", "unionid"),
    **MYSQL_TABLE_OPTIONS,
)
"""Unique by (platform, appid, openid): its primary key (0003)."""

unionid_users = Table(
    "unionid_users",
    metadata,
    Column("platform", String(16), nullable=False),
    Column("unionid", String(64), nullable=False),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    PrimaryKeyConstraint("platform", "unionid"),
    Index("ix_unionid_users_user_id", "user_id"),
    **MYSQL_TABLE_OPTIONS,
)
"""The user created for a (platform, unionid) (0005): inserted in the transaction that creates
the user and its first identity, so two first logins of one unionid on two apps of a platform
(two identities) collide on its primary key instead of making two users; the loser rolls back
and joins the winner's user. Logins find users through ``user_identities``, not here (users of
before 0005 have no row); a deleted account's rows go with its identities."""

account_events = Table(
    "account_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("at", Timestamp, nullable=False),
    Column("user_id", BigInteger, nullable=True),
    Column("app", String(32), nullable=True),
    Column("platform", String(16), nullable=True),
    Column("result", String(64), nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(256), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("reason", String(200), nullable=True),
    Index("ix_account_events_user_id_at", "user_id", "at"),
    Index("ix_account_events_at", "at"),
    **MYSQL_TABLE_OPTIONS,
)
"""The audit trail (0004): newest first by ``at``; removed after ``AUDIT_RETENTION_DAYS``."""

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("app", String(32), nullable=True),
    Column("platform", String(16), nullable=True),
    Column("created_at", Timestamp, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Timestamp, nullable=False),
    Index("ix_webhook_outbox_next_attempt_at", "next_attempt_at"),
    **MYSQL_TABLE_OPTIONS,
)
"""Webhook messages not yet delivered (0004), written in the transaction of the change they
report (``user.created`` by a trigger on ``user_identities``, at a user's first identity); the
message's id is ``msg_<id>``. A sender leases a message by moving ``next_attempt_at`` past its
sending time."""
