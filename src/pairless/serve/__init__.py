"""`pairless serve`: a local web page for translating images with a trained model."""

from pairless.serve.app import ServeSettings, create_app, run_server

__all__ = ["ServeSettings", "create_app", "run_server"]
