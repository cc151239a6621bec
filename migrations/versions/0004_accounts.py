"""Accounts: the users' status, the audit trail and the webhook outbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out rather than imported from adapters.sqlalchemy.tables: a migration is history.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL_TABLE_OPTIONS = {
    f"{dialect}_{option}": value
    for dialect in ("mysql", "mariadb")
    for option, value in (("engine", "InnoDB"), ("charset", "utf8mb4"), ("collate", "utf8mb4_bin"))
}


_FIRST_IDENTITY = (
    # A user's first identity is its creation (an identity joining a user by its unionid
    # is not): the message commits with the identity's row, whatever statement inserted it.
    "INSERT INTO webhook_outbox"
    " (type, user_id, platform, created_at, attempts, next_attempt_at)"
    " SELECT 'user.created', NEW.user_id, NEW.platform, NEW.created_at, 0, NEW.created_at"
    " {from_nothing} WHERE NOT EXISTS (SELECT 1 FROM user_identities other"
    " WHERE other.user_id = NEW.user_id AND NOT (other.platform = NEW.platform"
    " AND other.appid = NEW.appid AND other.openid = NEW.openid))"
)
_MYSQL_TRIGGER = (
    "CREATE TRIGGER user_created_webhook AFTER INSERT ON user_identities FOR EACH ROW "
    + _FIRST_IDENTITY.format(from_nothing="FROM DUAL")
)
CREATED_TRIGGER = {
    "mysql": [_MYSQL_TRIGGER],
    "mariadb": [_MYSQL_TRIGGER],
    "sqlite": [
        "CREATE TRIGGER user_created_webhook AFTER INSERT ON user_identities BEGIN "
        + _FIRST_IDENTITY.format(from_nothing="") + "; END"
    ],
    "postgresql": [
        "CREATE FUNCTION user_created_webhook() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        + _FIRST_IDENTITY.format(from_nothing="") + "; RETURN NEW; END $$",
        "CREATE TRIGGER user_created_webhook AFTER INSERT ON user_identities FOR EACH ROW"
        " EXECUTE FUNCTION user_created_webhook()",
    ],
}
DROP_TRIGGER = {
    "mysql": ["DROP TRIGGER user_created_webhook"],
    "mariadb": ["DROP TRIGGER user_created_webhook"],
    "sqlite": ["DROP TRIGGER user_created_webhook"],
    "postgresql": ["DROP TRIGGER user_created_webhook ON user_identities",
                   "DROP FUNCTION user_created_webhook()"],
}


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'active'"))
        )
    op.create_table(
        "account_events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("at", Timestamp, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=True),
        sa.Column("app", sa.String(32), nullable=True),
        sa.Column("platform", sa.String(16), nullable=True),
        sa.Column("result", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(256), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_account_events"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_account_events_user_id_at", "account_events", ["user_id", "at"])
    op.create_index("ix_account_events_at", "account_events", ["at"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("app", sa.String(32), nullable=True),
        sa.Column("platform", sa.String(16), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_outbox"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index(
        "ix_webhook_outbox_next_attempt_at", "webhook_outbox", ["next_attempt_at"]
    )
    for statement in CREATED_TRIGGER[op.get_context().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    for statement in DROP_TRIGGER[op.get_context().dialect.name]:
        op.execute(statement)
    op.drop_table("webhook_outbox")
    op.drop_table("account_events")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("status")
