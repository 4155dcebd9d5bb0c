"""Hotline contacts: one call, SMS conversation or web chat, and what happened with it."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.models import RiskLevel
from crisisline.accounts.models import User
from crisisline.database import Base, enum_column, utcnow


class Channel(str, enum.Enum):
    VOICE = "voice"
    SMS = "sms"
    WEB_CHAT = "web_chat"


class ContactStatus(str, enum.Enum):
    IVR = "ivr"  # a caller still in the greeting menu
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    WRAP_UP = "wrap_up"
    ENDED = "ended"
    ABANDONED = "abandoned"  # hung up before anyone answered: on the callback list
    ROLLED_OVER = "rolled_over"  # sent on to the backup line


class Priority(enum.IntEnum):
    """Queue order: imminent first, then by waiting time."""

    NORMAL = 1
    HIGH = 2  # high-risk words, or a repeat caller whose last contact was high risk
    IMMINENT = 3  # pressed 1 ("in danger now"), or an attempt in progress in a text


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_queue", "status", "priority", "queued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)  # CallSid
    caller_number: Mapped[str | None] = mapped_column(String(32), info={"sensitive": True},
                                                      index=True)
    status: Mapped[ContactStatus] = mapped_column(enum_column(ContactStatus, "contact_status"),
                                                  default=ContactStatus.ENDED)
    priority: Mapped[int] = mapped_column(default=Priority.NORMAL)
    language: Mapped[str] = mapped_column(String(10), default="zh")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    risk_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level"),
                                                  default=RiskLevel.NONE)
    summary: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    categories: Mapped[list] = mapped_column(JSON, default=list)
    wrap_up_code: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]  # first offered to someone
    answered_at: Mapped[datetime | None]
    transferred_at: Mapped[datetime | None]  # warm-transferred to ``handled_by``
    ended_at: Mapped[datetime | None]
    wrapped_up_at: Mapped[datetime | None]
    supervisor_alerted_at: Mapped[datetime | None]  # a high-risk text left unanswered
    screening: Mapped[dict | None] = mapped_column(JSON, info={"sensitive": True})  # C-SSRS
    screened_at: Mapped[datetime | None]
    screened_risk: Mapped[RiskLevel | None] = mapped_column(enum_column(RiskLevel, "risk_level"))

    messages: Mapped[list[ContactMessage]] = relationship(order_by="ContactMessage.id",
                                                          back_populates="contact")


class ContactMessage(Base):
    """One SMS or chat message of a conversation, in or out."""

    __tablename__ = "contact_messages"
    __audit_name__ = "contact_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    inbound: Mapped[bool]
    body: Mapped[str] = mapped_column(Text, info={"sensitive": True})
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)  # MessageSid
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # an SMS reply: pending → sending → sent | failed | not_sent; a chat reply: delivered
    delivery: Mapped[str | None] = mapped_column(String(20), index=True)
    # an inbound message's triage, as it was when the message came in: level, score and
    # the matched words with their weights (``triage.Assessment.explain``)
    triage: Mapped[dict | None] = mapped_column(JSON, info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="messages")


class WebhookReceipt(Base):
    """Twilio retries webhooks: each (id, status) is acted on once, whatever arrives again."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("sid", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallbackAttempt(Base):
    """A try to call back an abandoned caller."""

    __tablename__ = "callback_attempts"
    __audit_name__ = "callback_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    attempted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    reached: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(Text, default="")


class Presence(Base):
    """A volunteer's (or on-duty counselor's) presence; ``state`` follows
    ``state_machines.presence``. ``since`` orders the longest-idle first."""

    __tablename__ = "presence"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default="offline")
    since: Mapped[datetime] = mapped_column(default=utcnow)
    languages: Mapped[str] = mapped_column(String(40), default="zh")  # "zh" or "zh,en"
    # offers let expire since the person last answered one (accepted or declined) or came
    # back: at the policy's ``missed_offers_to_away`` they are set away
    missed_offers: Mapped[int] = mapped_column(default=0, server_default="0")


OFFER_OUTCOMES = ("pending", "accepted", "declined", "expired")


class Offer(Base):
    """A contact offered to one person until it is accepted, declined or expires.

    The partial unique indexes are the guarantee, whatever the routing code does: at most
    one pending offer per contact and at most one per person.
    """

    __tablename__ = "offers"
    __table_args__ = (
        Index("uq_offers_pending_contact", "contact_id", unique=True,
              sqlite_where=text("outcome = 'pending'"),
              postgresql_where=text("outcome = 'pending'")),
        Index("uq_offers_pending_user", "user_id", unique=True,
              sqlite_where=text("outcome = 'pending'"),
              postgresql_where=text("outcome = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    offered_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20), default="pending")  # OFFER_OUTCOMES
    ended_at: Mapped[datetime | None]  # when it was accepted, declined or expired

    contact: Mapped[Contact] = relationship()


class FeedbackStatus(str, enum.Enum):
    PENDING = "pending"  # waiting for a supervisor
    ACCEPTED = "accepted"  # a labelled example for the next training, de-identified
    REJECTED = "rejected"


class TriageFeedback(Base):
    """A volunteer's or counselor's word that triage judged a message wrongly, with the
    level they judged; a supervisor accepts it (with the message de-identified, as a
    labelled example for the next training) or rejects it. Nothing retrains by itself."""

    __tablename__ = "triage_feedback"
    __audit_name__ = "triage_feedback"
    # one word per person and message; the supervisors' queue, oldest first
    __table_args__ = (UniqueConstraint("message_id", "given_by_id"),
                      Index("ix_triage_feedback_queue", "centre_id", "status", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("contact_messages.id"))
    centre_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    given_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    triage_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level"))
    judged_level: Mapped[RiskLevel] = mapped_column(enum_column(RiskLevel, "risk_level"))
    note: Mapped[str] = mapped_column(Text, default="", info={"sensitive": True})
    status: Mapped[FeedbackStatus] = mapped_column(
        enum_column(FeedbackStatus, "feedback_status"), default=FeedbackStatus.PENDING)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    # the message as it may leave the centre: no numbers, names or places
    example_text: Mapped[str | None] = mapped_column(Text, info={"sensitive": True})
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[ContactMessage] = relationship()
    given_by: Mapped[User] = relationship(foreign_keys=[given_by_id])

    @property
    def too_high(self) -> bool:
        """Did triage judge the message higher than the person who answered it?"""
        levels = list(RiskLevel)
        return levels.index(self.judged_level) < levels.index(self.triage_level)
