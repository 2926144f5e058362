"""The packages' layering, checked statically over every import (including those inside functions).

    desktop  ──►  models  ──►  embedengine (engine + embedengine.cli)
       └───────────────────────►  embedengine (not its CLI)

* the engine (``embedengine``, its CLI included) imports no Qt and neither ``desktop`` nor ``models``;
* the desktop does not use the command line (``embedengine.cli``): the helpers both share live in
  the engine (``embedengine.results``);
* the model builder (``models``) does not import the desktop.

The top-level ``embedstudio.py`` composes them all (the ``embedstudio`` command), so it has no rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import pytest

ROOT = Path(__file__).resolve().parents[1]

QT = ("PySide6", "shiboken6", "pyqtgraph", "qtpy")

# package -> (forbidden module, why); a forbidden module also forbids its submodules.
RULES: Mapping[str, Sequence[tuple[str, str]]] = {
    "embedengine": [*((name, "the engine has no Qt") for name in QT),
                    ("desktop", "the engine does not know the app"),
                    ("models", "the engine does not import the model builder (models.cli registers the `models` "
                               "command from the models side)")],
    "desktop": [("embedengine.cli", "the desktop does not use the command line (shared helpers live in "
                                    "embedengine.results)")],
    "models": [("desktop", "the model builder does not know the app")],
    "desktop/controllers": [(name, "the tabs' controllers hold state and parse commands without Qt, so they are "
                                   "tested without a display") for name in QT],
}


@dataclass(frozen=True)
class Violation:
    file: Path
    line: int
    imported: str  # the module as imported, made absolute
    statement: str  # the source of the import
    rule: str
    why: str

    def __str__(self) -> str:
        return (f"{self.file}:{self.line}: `{self.statement}` imports {self.imported}, "
                f"which is forbidden here ({self.rule}): {self.why}")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[ast.AST, str]]:
    """(node, absolute module name) for every import in ``tree``, wherever it is (functions, ifs, try).

    ``from a import b`` yields both ``a`` and ``a.b`` (``b`` may be a submodule); relative imports are
    resolved against ``module``; ``importlib.import_module("x")`` and ``__import__("x")`` with a
    literal name count too.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                base_parts = base_parts[: len(base_parts) - (node.level - 1)] if node.level > 1 else base_parts
                base = ".".join([*base_parts, node.module] if node.module else base_parts)
            else:
                base = node.module or ""
            if base:
                yield node, base
            for alias in node.names:
                if alias.name != "*":
                    yield node, f"{base}.{alias.name}" if base else alias.name
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                yield node, first.value


def is_within(name: str, forbidden: str) -> bool:
    return name == forbidden or name.startswith(forbidden + ".")


def find_violations(root: Path, rules: Mapping[str, Sequence[tuple[str, str]]] = RULES) -> list[Violation]:
    """Every import under ``root/<package>`` that its package's rules forbid."""
    violations = []
    for package, forbidden in rules.items():
        folder = root / package
        for path in sorted(folder.rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=str(path))
            seen = set()
            for node, name in imported_modules(tree, module_name(path, root), path.name == "__init__.py"):
                for rule, why in forbidden:
                    if is_within(name, rule) and (node.lineno, rule) not in seen:
                        seen.add((node.lineno, rule))
                        statement = " ".join((ast.get_source_segment(source, node) or name).split())
                        violations.append(Violation(path.relative_to(root), node.lineno, name, statement, rule, why))
    return violations


def test_the_packages_respect_their_layers():
    violations = find_violations(ROOT)
    if violations:
        pytest.fail("layering broken:\n" + "\n".join(map(str, violations)), pytrace=False)


def test_every_package_is_checked():
    for package in RULES:
        assert any((ROOT / package).rglob("*.py")), f"{package}/ has no Python files: is the rule stale?"


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_checker_catches_wrong_imports(tmp_path):
    write(tmp_path, "embedengine/__init__.py", "")
    write(tmp_path, "embedengine/cli/__init__.py", "from .. import store\n")  # relative: fine
    write(tmp_path, "embedengine/cli/common.py", "import json\n")
    write(tmp_path, "embedengine/store.py", (
        "import numpy as np\n"
        "\n"
        "def plot():\n"
        "    from PySide6.QtWidgets import QWidget  # a lazy import is still a dependency\n"
        "    return QWidget\n"
        "\n"
        "def build():\n"
        "    import importlib\n"
        "    return importlib.import_module('models.build')\n"
        "\n"
        "models_dir = 'not an import'\n"
    ))
    write(tmp_path, "desktop/__init__.py", "")
    write(tmp_path, "desktop/view.py", (
        "from embedengine.results import to_jsonable\n"
        "from embedengine import cli\n"
        "from embedengine.cli.common import format_duration\n"
    ))
    write(tmp_path, "models/__init__.py", "")
    write(tmp_path, "models/cli.py", "from embedengine.cli.common import add_command\n"  # fine
                                     "if False:\n    import desktop.app\n")

    found = {(str(v.file), v.line, v.rule) for v in find_violations(tmp_path)}

    assert found == {
        ("embedengine/store.py", 4, "PySide6"),
        ("embedengine/store.py", 9, "models"),
        ("desktop/view.py", 2, "embedengine.cli"),
        ("desktop/view.py", 3, "embedengine.cli"),
        ("models/cli.py", 3, "desktop"),
    }
    message = str(next(v for v in find_violations(tmp_path) if v.rule == "PySide6"))
    assert message.startswith("embedengine/store.py:4: `from PySide6.QtWidgets import QWidget` imports PySide6.QtWidgets")
    assert "the engine has no Qt" in message


def test_relative_imports_resolve_against_the_package(tmp_path):
    write(tmp_path, "embedengine/__init__.py", "")
    write(tmp_path, "embedengine/a/__init__.py", "from ...desktop import app\n")  # climbs out of embedengine
    write(tmp_path, "embedengine/a/b.py", "from ..c import d\nfrom . import models\n")  # embedengine.*: fine
    found = [(str(v.file), v.line, v.imported) for v in find_violations(tmp_path)]
    assert found == [("embedengine/a/__init__.py", 1, "desktop")]
