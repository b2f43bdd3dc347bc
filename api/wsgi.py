"""WSGI entry point for gunicorn (``api.wsgi:app``); settings come from the environment."""

from api.app import create_app

app = create_app()
