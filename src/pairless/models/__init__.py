"""Translation methods, registered by name. Importing this package registers every method module in it."""

import importlib
import pkgutil

from pairless.models.registry import get_method, method_names, register

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["get_method", "method_names", "register"]
