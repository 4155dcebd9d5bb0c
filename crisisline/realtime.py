"""Real-time pushes to the consoles, sent only once the transaction has committed.

A console connects to the ``/console`` namespace with its session (or bearer token); the
server, not the client, decides which rooms it joins. With Redis configured, Flask-SocketIO
relays through it, so an event caused in any web process or Celery worker reaches consoles
connected to every web process.
"""
from __future__ import annotations

from typing import Any

from flask_login import current_user
from flask_socketio import join_room

from crisisline.accounts.models import Role
from crisisline.database import on_commit
from crisisline.extensions import socketio

NAMESPACE = "/console"


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def supervisors_room(centre_id: int) -> str:
    return f"supervisors:{centre_id}"


def emit_after_commit(event: str, payload: dict[str, Any], *, room: str) -> None:
    """Queue an emit to ``room``; it is sent after commit and dropped on rollback."""
    on_commit(lambda: socketio.emit(event, payload, to=room, namespace=NAMESPACE))


@socketio.on("connect", namespace=NAMESPACE)
def _connect(_auth=None):
    if not current_user.is_authenticated:
        return False
    join_room(user_room(current_user.id))
    if current_user.role == Role.SUPERVISOR:
        for centre_id in current_user.centre_ids:
            join_room(supervisors_room(centre_id))
    return True
