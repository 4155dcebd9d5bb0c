"""The console event log: every push to the consoles, kept so a console can catch up."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crisisline.database import Base, utcnow


class ConsoleEvent(Base):
    """One event pushed to one room. Written in the transaction that caused it and sent
    after commit, with its id: ids increase, and a console that reconnects asks for what it
    missed since the last id it saw. Payloads hold ids and states, never personal data."""

    __tablename__ = "console_events"
    __table_args__ = (Index("ix_console_events_room_id", "room", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    room: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
