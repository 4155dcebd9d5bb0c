"""Casework's background work: the deadline poller, run by the Celery scheduler."""
from __future__ import annotations

import logging

from celery import shared_task

from casework import deadlines
from crisisline.database import db

log = logging.getLogger(__name__)


@shared_task
def fire_due_deadlines() -> int:
    """Fire the deadlines that are due; a deadline fired here is never fired again."""
    fired = deadlines.fire_due()
    db.commit()
    if fired:
        log.info("fired %d due deadline(s)", fired)
    return fired
