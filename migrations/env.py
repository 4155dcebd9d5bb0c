"""Alembic environment: the database is the application's, from the same settings.

``crisisline init`` hands in an open connection; ``alembic`` on the command line builds
one from the environment exactly as the application would.
"""
from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from crisisline.models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    from crisisline import create_app
    app = create_app()
    config.attributes.setdefault("audit_key", app.config["AUDIT_KEY"])  # for 0015_audit_key
    with app.extensions["crisisline.engine"].begin() as conn:
        run_migrations(conn)
