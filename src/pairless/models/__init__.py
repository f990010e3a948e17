"""Translation methods, registered by name. Importing this package registers the built-in ones."""

from pairless.models import cut, cyclegan, dcl  # noqa: F401
from pairless.models.registry import get_method, method_names, register

__all__ = ["get_method", "method_names", "register"]
