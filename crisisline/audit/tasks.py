import logging

from celery import shared_task

from crisisline.audit.services import chain_queued, record_check, verify_chain
from crisisline.database import db

log = logging.getLogger(__name__)


@shared_task
def chain_audit_queue() -> int:
    """Chain entries whose process died between its commit and chaining them (PostgreSQL);
    every commit chains what is queued, so this only matters when nothing else is written."""
    chained = chain_queued()
    if chained:
        log.info("chained %d queued audit entries", chained)
    return chained


@shared_task
def verify_audit_chain() -> dict:
    """Hourly check of the whole chain, so tampering is noticed without anyone asking."""
    chain_queued()
    report = verify_chain()
    record_check(report)
    db.commit()
    if report.ok:
        log.info("audit chain intact: %d entries", report.entries)
    else:
        log.critical("audit chain broken at entry %s: %s", report.first_bad_seq, report.problem)
    return {"ok": report.ok, "entries": report.entries, "first_bad_seq": report.first_bad_seq}
