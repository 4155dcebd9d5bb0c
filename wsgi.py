"""The WSGI entry point: ``gunicorn wsgi:app``."""
from crisisline import create_app

app = create_app()
