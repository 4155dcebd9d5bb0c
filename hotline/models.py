"""Hotline contacts: one call, SMS conversation or web chat."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from casework.models import RiskLevel
from crisisline.database import Base, enum_column, utcnow


class Channel(str, enum.Enum):
    VOICE = "voice"
    SMS = "sms"
    WEB_CHAT = "web_chat"


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    caller_number: Mapped[str | None] = mapped_column(String(32), info={"sensitive": True})
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    risk_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level"),
                                                  default=RiskLevel.NONE)
    summary: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
