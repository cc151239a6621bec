"""One user per unionid: ``unionid_users`` (platform, unionid) -> user, the claim a new user
of a unionid takes in its creating transaction, so that simultaneous first logins of one
unionid on two apps of a platform make one user, not two.

No rows are written for the users of before: logins find a unionid's user through
``user_identities``; the table only arbitrates between creations. Downgrading drops it (and
loses nothing the earlier schema kept).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out rather than imported from adapters.sqlalchemy.tables: a migration is history.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_TABLE_OPTIONS = {
    f"{dialect}_{option}": value
    for dialect in ("mysql", "mariadb")
    for option, value in (("engine", "InnoDB"), ("charset", "utf8mb4"), ("collate", "utf8mb4_bin"))
}


def upgrade() -> None:
    op.create_table(
        "unionid_users",
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("unionid", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.PrimaryKeyConstraint("platform", "unionid", name="pk_unionid_users"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_unionid_users_user_id_users"),
        **MYSQL_TABLE_OPTIONS,
    )
    op.create_index("ix_unionid_users_user_id", "unionid_users", ["user_id"])


def downgrade() -> None:
    op.drop_table("unionid_users")
