"""A removal has an effective date, and a future-dated one its reason on the grant.

* ``access_requests.effective_date``: a revoke's effective date, the day the access
  ends (up to the area's ``revoke_backdate_days`` back, or today). Revokes written
  before this revision took effect the day they were made: their ``start_date``.
* ``keha_rows.effective_date``: the same for the KEHA row of a removal (copied from
  the request when the batch was made; backfilled from the row's ``start_date``).
* ``grants.end_reason`` / ``grants.end_note``: a revoke dated in the future sets the
  grant's end date to that day; the grant-end job revokes it then, for this reason
  and with this note.

The downgrade drops the columns: an older version then reads a future-dated end as
the grant's ordinary end date (``grant_ended``).

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("access_requests") as batch:
        batch.add_column(sa.Column("effective_date", sa.Date(), nullable=True))
    with op.batch_alter_table("keha_rows") as batch:
        batch.add_column(sa.Column("effective_date", sa.Date(), nullable=True))
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("end_reason", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("end_note", sa.Text(), nullable=True))
    for table in ("access_requests", "keha_rows"):
        op.execute(
            sa.text(
                f"UPDATE {table} SET effective_date = start_date "  # noqa: S608 - fixed names
                "WHERE kind = 'revoke' AND effective_date IS NULL"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("end_note")
        batch.drop_column("end_reason")
    with op.batch_alter_table("keha_rows") as batch:
        batch.drop_column("effective_date")
    with op.batch_alter_table("access_requests") as batch:
        batch.drop_column("effective_date")
