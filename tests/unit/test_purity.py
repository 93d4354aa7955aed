"""The instruments and the pure domain modules never import Flask, WTForms, SQLAlchemy or Babel.

surveyapp.instruments uses the standard library only; each pure module (suppression,
statistics) lists the few scientific packages it may import lazily, inside a function. Two
checks, each shown able to fail: (1) import every module in a fresh interpreter and look at
sys.modules (this test session has Flask loaded already, hence the subprocess); (2) read every
import statement, including those inside functions, and allow only the standard library,
surveyapp.instruments itself and the listed packages.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import surveyapp.instruments

PACKAGE_DIR = Path(surveyapp.instruments.__file__).parent
ROOT = PACKAGE_DIR.parents[1]
# Pure domain modules and the non-stdlib packages each may import (lazily, in a function).
PURE_MODULES: dict[str, tuple[str, ...]] = {
    "surveyapp.suppression": (),
    "surveyapp.statistics": ("scipy",),
    "surveyapp.report_tables": ("openpyxl", "surveyapp.statistics", "surveyapp.suppression"),
    "surveyapp.linkcodes": (),
    "surveyapp.logs": (),
    "surveyapp.letters": ("qrcode", "surveyapp.scheduling"),
    "surveyapp.notify": ("surveyapp.letters",),
    "surveyapp.auditchain": (),
    "surveyapp.audit_actions": (),
    "surveyapp.redirects": (),
    "surveyapp.passwords": (),
    "surveyapp.offline_keys": ("cryptography",),
    "surveyapp.integrity": (),
    # Works on a SQLAlchemy connection it is handed: the names for the type checker only.
    "surveyapp.bulkload": ("sqlalchemy",),
}
FORBIDDEN = ("flask", "flask_babel", "flask_wtf", "wtforms", "sqlalchemy", "alembic", "babel")

_SCRIPT = """
import importlib, json, pkgutil, sys
import surveyapp.instruments as package
for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(module.name)
for name in sys.argv[2:]:
    importlib.import_module(name)
package.score(package.default_registry().get("who5"), {})
forbidden = set(sys.argv[1].split(","))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in forbidden)))
print(json.dumps("scipy" in sys.modules))
"""


def _import_in_fresh_interpreter(*also_import: str) -> tuple[list[str], bool]:
    """Return the forbidden modules loaded, and whether scipy was."""
    done = subprocess.run(  # noqa: S603 - the running interpreter with a fixed script
        [sys.executable, "-c", _SCRIPT, ",".join(FORBIDDEN), *also_import],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    forbidden, scipy = done.stdout.splitlines()
    loaded: list[str] = json.loads(forbidden)
    return loaded, bool(json.loads(scipy))


def forbidden_modules_loaded(*also_import: str) -> list[str]:
    return _import_in_fresh_interpreter(*also_import)[0]


def foreign_imports(path: Path, allowed: tuple[str, ...] = ()) -> list[str]:
    """Return every import in the file that is neither stdlib, surveyapp.instruments nor allowed."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue  # relative imports stay inside the package
        for name in names:
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in allowed or name in allowed:
                continue
            if name == "surveyapp.instruments" or name.startswith("surveyapp.instruments."):
                continue
            found.append(f"{path.name}:{node.lineno}: {name}")
    return found


def test_importing_every_instruments_module_loads_no_web_or_database_library() -> None:
    assert forbidden_modules_loaded() == []


def test_the_import_check_can_fail() -> None:
    assert "flask" in forbidden_modules_loaded("flask")


def test_instruments_import_only_the_standard_library() -> None:
    modules = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(modules) >= 5
    assert [problem for path in modules for problem in foreign_imports(path)] == []


def test_the_source_check_can_fail(tmp_path: Path) -> None:
    path = tmp_path / "impure.py"
    path.write_text(
        "import csv\nfrom . import model\nimport surveyapp.models\n"
        "def view():\n    from flask import request\n",
        encoding="utf-8",
    )
    assert foreign_imports(path) == ["impure.py:3: surveyapp.models", "impure.py:5: flask"]


def test_importing_the_pure_modules_loads_no_web_or_database_library_nor_scipy() -> None:
    loaded, scipy = _import_in_fresh_interpreter(*PURE_MODULES)
    assert loaded == []
    assert not scipy  # imported inside the function that needs a t quantile


def test_the_scipy_check_can_fail() -> None:
    assert _import_in_fresh_interpreter("scipy.stats")[1]


def test_pure_modules_import_only_the_standard_library_and_their_allowed_packages() -> None:
    problems = []
    for name, allowed in PURE_MODULES.items():
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.exists():  # a package
            path = ROOT / name.replace(".", "/") / "__init__.py"
        problems += foreign_imports(path, allowed)
    assert problems == []


def test_an_allowed_package_is_allowed_only_where_listed(tmp_path: Path) -> None:
    path = tmp_path / "lazy.py"
    path.write_text("def quantile():\n    from scipy.stats import t\n", encoding="utf-8")
    assert foreign_imports(path, ("scipy",)) == []
    assert foreign_imports(path) == ["lazy.py:2: scipy.stats"]
