"""API tokens (issue #22): the HTTP API's tokens, each acting as its desk user, kept as their SHA-256.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "api_tokens" in sa.inspect(op.get_bind()).get_table_names():
        return  # made by a development build that created it without a migration
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.Text, nullable=False, unique=True),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_used_at", sa.Float),
        sa.Column("revoked_at", sa.Float),
        sqlite_autoincrement=True,
    )
    op.create_index("api_tokens_user", "api_tokens", ["username"])


def downgrade() -> None:
    op.drop_index("api_tokens_user", table_name="api_tokens")
    op.drop_table("api_tokens")
