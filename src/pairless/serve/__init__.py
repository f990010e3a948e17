"""`pairless serve`: a local web page for translating images with one or more trained models."""

from pairless.serve.app import ServeSettings, create_app, run_server
from pairless.serve.runs import load_runs

__all__ = ["ServeSettings", "create_app", "load_runs", "run_server"]
