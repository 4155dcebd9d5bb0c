"""The school network's background work."""
from __future__ import annotations

from celery import shared_task

from crisisline.database import db
from schoolnet import routine, screening, services, watch_list


@shared_task
def alert_untaken_reports() -> int:
    """Tell the supervisors of at-risk reports nobody has taken in time (once each)."""
    alerted = services.alert_untaken_reports()
    db.commit()
    return alerted


@shared_task
def alert_missing_routine_reports() -> int:
    """Tell the level above of each weekly or monthly report that did not arrive (once)."""
    alerted = routine.alert_missing_reports()
    db.commit()
    return alerted


@shared_task
def start_key_periods() -> int:
    """Start the key periods whose first day has come: their reviews are due."""
    started = services.start_due_periods()
    db.commit()
    return started


@shared_task
def alert_overdue_screening_work() -> int:
    """Tell the school of each warning whose interview is overdue, and of each watch-list
    review missed (the owner, then the psychology centre): once each."""
    alerted = screening.alert_overdue_interviews() + watch_list.alert_overdue_reviews()
    db.commit()
    return alerted
