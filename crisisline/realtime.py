"""Real-time pushes to the consoles, sent only once the transaction has committed.

With Redis configured, Flask-SocketIO relays through it, so an event caused in any web
process or Celery worker reaches consoles connected to every web process.
"""
from __future__ import annotations

from typing import Any

from crisisline.database import on_commit
from crisisline.extensions import socketio

NAMESPACE = "/console"


def emit_after_commit(event: str, payload: dict[str, Any], *, room: str) -> None:
    """Queue an emit to ``room``; it is sent after commit and dropped on rollback."""
    on_commit(lambda: socketio.emit(event, payload, to=room, namespace=NAMESPACE))
