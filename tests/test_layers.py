"""Imports point down only: each part of the package may import its own layer and the layers below it.

The order, top to bottom, is the one DEVELOPERS.md draws; a new module gets a place in LAYERS (an unknown
one fails the test), and an upward import fails it with the file, the import and the order."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pairless"

LAYERS = (
    ("__main__", "cli", "cli_support"),
    ("demo", "bench", "report", "recipe", "options_help", "reproduce"),
    ("generate", "attention", "export", "serve", "interop"),
    ("__init__",),
    ("train",),
    ("eval",),
    ("translator",),
    ("checkpoint",),
    ("config", "train_config"),
    ("models",),
    ("losses", "nn"),
    ("data",),
    ("errors", "devices", "fields", "ranking", "tiling", "metrics_file"),
)
LEVEL = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """`pairless.train.loop` -> `train`; `pairless` itself is its `__init__`."""
    names = module.split(".")
    return names[1] if len(names) > 1 else "__init__"


def imported_parts(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a pairless module in the file, deferred ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "pairless"
                                        else [])
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, m) for m in modules if m.split(".")[0] == "pairless" and m != "pairless"]
    return found


def upward_imports(package: Path) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        importer = part_of(".".join(("pairless", *path.relative_to(package).with_suffix("").parts)))
        if importer not in LEVEL:
            problems.append(f"{path.relative_to(package)}: not in any layer of tests/test_layers.py")
            continue
        for line, module in imported_parts(path):
            target = part_of(module)
            if LEVEL.get(target, len(LAYERS)) < LEVEL[importer]:
                problems.append(f"{path.relative_to(package)}:{line} imports {module} ({target} is above {importer})")
    return problems


def layer_order() -> str:
    return "\n".join(" | ".join(parts) for parts in LAYERS)


def test_imports_point_down_only():
    problems = upward_imports(PACKAGE)
    assert not problems, "upward imports:\n" + "\n".join(problems) + "\nlayers, top to bottom:\n" + layer_order()


def test_an_upward_import_is_caught(tmp_path):
    fake = tmp_path / "pairless"
    (fake / "models").mkdir(parents=True)
    (fake / "models" / "cut.py").write_text("def f():\n    from pairless.train.loop import train\n")
    (fake / "nn.py").write_text("from pairless import config\n")
    assert upward_imports(fake) == ["models/cut.py:2 imports pairless.train.loop (train is above models)",
                                    "nn.py:1 imports pairless.config (config is above nn)"]

