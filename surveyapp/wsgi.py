"""WSGI entry point for production servers: `gunicorn surveyapp.wsgi:app`."""

from surveyapp.app import create_app

app = create_app()
