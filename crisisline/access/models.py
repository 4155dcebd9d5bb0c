from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crisisline.accounts.models import User
from crisisline.database import Base, utcnow


class BreakGlassGrant(Base):
    """Time-boxed access to one record outside the user's scope, given a reason.

    Every grant waits in the supervisors' review queue until one of them reviews it. A user
    holds at most one active grant per record.
    """

    __tablename__ = "break_glass_grants"
    __audit_name__ = "break_glass_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    review_outcome: Mapped[str | None] = mapped_column(String(20))  # justified | unjustified
    review_note: Mapped[str | None] = mapped_column(Text)
    # after an unjustified review the user may not open the record again until a supervisor
    # allows it again
    allowed_again_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    allowed_again_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    allowed_again_by: Mapped[User | None] = relationship(foreign_keys=[allowed_again_by_id])
