"""surveyapp.instruments is pure: stdlib only, never Flask, WTForms, SQLAlchemy or Babel.

Two checks, each shown able to fail: (1) import every module in a fresh interpreter and look
at sys.modules (this test session has Flask loaded already, hence the subprocess); (2) read
every import statement, including those inside functions, and allow only the standard library
and surveyapp.instruments itself.
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
"""


def forbidden_modules_loaded(*also_import: str) -> list[str]:
    done = subprocess.run(  # noqa: S603 - the running interpreter with a fixed script
        [sys.executable, "-c", _SCRIPT, ",".join(FORBIDDEN), *also_import],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def foreign_imports(path: Path) -> list[str]:
    """Return every import in the file that is neither stdlib nor surveyapp.instruments."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue  # relative imports stay inside the package
        for name in names:
            if name.split(".")[0] in sys.stdlib_module_names:
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


def test_the_link_code_and_log_redaction_modules_are_pure_too() -> None:
    assert forbidden_modules_loaded("surveyapp.linkcodes", "surveyapp.logs") == []


# Other pure modules: no web, database or Babel library, and only the libraries they name.
PURE_MODULES = {"surveyapp.letters": {"qrcode"}, "surveyapp.notify": set()}


def test_the_letter_modules_load_no_web_or_database_library() -> None:
    assert forbidden_modules_loaded(*PURE_MODULES) == []


def test_the_letter_modules_import_only_what_they_name() -> None:
    problems = []
    for name, allowed in PURE_MODULES.items():
        path = ROOT / (name.replace(".", "/") + ".py")
        for problem in foreign_imports(path):
            imported = problem.rsplit(": ", 1)[1]
            if imported.split(".")[0] in allowed:
                continue
            if imported in ("surveyapp.scheduling", "surveyapp.letters"):
                continue  # pure modules of their own
            problems.append(problem)
    assert problems == []
