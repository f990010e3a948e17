"""benchmarks/cost.py, loaded as a module (benchmarks/ is a folder of scripts, not a package)."""

import importlib.util
import sys

import pytest

from tests.conftest import PROJECT_ROOT


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def cost():
    return load_script("cost")
