"""Users get identities: v1's ``users`` (openid, unionid, phone) becomes ``users`` +
``user_identities``; every v1 user becomes an identity of the deployment's WeChat app.

The WeChat app's appid comes from the caller (``config.attributes["wechat_appid"]``: the
service passes its first WeChat app's, or the simulator's when none is configured) or else
from ``WECHAT_APPID``. Ids, unionids, phones and times are kept as they are.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
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
SIMULATOR_APPID = "wx0000simulator00"
"""The appid of a v1 deployment that ran without WECHAT_APPID (its built-in simulator)."""


def wechat_appid() -> str:
    given = context.config.attributes.get("wechat_appid") or os.environ.get("WECHAT_APPID")
    return str(given or SIMULATOR_APPID)


def upgrade() -> None:
    op.create_table(
        "user_identities",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("appid", sa.String(64), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("unionid", sa.String(64), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_login_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("platform", "appid", "openid", name="pk_user_identities"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_identities_user_id_users"
        ),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_user_identities_user_id", "user_identities", ["user_id"])
    op.create_index("ix_user_identities_unionid", "user_identities", ["platform", "unionid"])
    op.execute(
        sa.text(
            "INSERT INTO user_identities"
            " (platform, appid, openid, user_id, unionid, created_at, last_login_at)"
            " SELECT 'wechat', :appid, openid, id, unionid, created_at, last_login_at FROM users"
        ).bindparams(appid=wechat_appid())
    )
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_openid", type_="unique")
        batch.drop_column("openid")
        batch.drop_column("unionid")


def downgrade() -> None:
    """Back to one WeChat identity per user (the oldest); other identities are dropped."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("openid", sa.String(64), nullable=True))
        batch.add_column(sa.Column("unionid", sa.String(64), nullable=True))
    op.execute(
        sa.text(
            "UPDATE users SET"
            " openid = (SELECT i.openid FROM user_identities i WHERE i.user_id = users.id"
            "  AND i.platform = 'wechat' AND i.appid = :appid),"
            " unionid = (SELECT i.unionid FROM user_identities i WHERE i.user_id = users.id"
            "  AND i.platform = 'wechat' AND i.appid = :appid)"
        ).bindparams(appid=wechat_appid())
    )
    op.drop_table("user_identities")
    op.execute(sa.text("DELETE FROM users WHERE openid IS NULL"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("openid", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_users_openid", ["openid"])
