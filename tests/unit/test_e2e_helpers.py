"""The browser tests' accessibility check runs only on a fully loaded, styled page.

`test_switch_to_english_on_the_instruction_screen` failed now and then under load: axe ran
before the stylesheet was applied. A stand-in page records what the shared helper asks of
it: the load state and the stylesheet wait come before axe runs, every time.
"""

from __future__ import annotations

from typing import Any

from tests.e2e import conftest as e2e


class RecordingPage:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def wait_for_load_state(self, state: str = "load") -> None:
        self.calls.append(f"load-state:{state}")

    def wait_for_function(self, expression: str, **_options: Any) -> None:
        self.calls.append("styled" if expression == e2e.STYLED else "function")

    def evaluate(self, expression: str, *_args: Any) -> Any:
        if "axe.run" in expression:
            self.calls.append("axe")
            return {"violations": []}
        if "typeof window.axe" in expression:
            return True
        self.calls.append("frame" if "requestAnimationFrame" in expression else "script")
        return None


def test_axe_runs_after_load_and_stylesheets(monkeypatch: Any, tmp_path: Any) -> None:
    axe = tmp_path / "axe.min.js"
    axe.write_text("// axe")
    monkeypatch.setattr(e2e, "AXE", axe)
    page = RecordingPage()
    assert e2e.axe_violations(page) == []  # type: ignore[arg-type]
    assert page.calls == ["load-state:load", "styled", "frame", "axe"]


def test_the_styled_check_covers_every_stylesheet_and_the_fonts() -> None:
    assert "document.readyState === 'complete'" in e2e.STYLED
    assert 'link[rel~="stylesheet"]' in e2e.STYLED and "cssRules" in e2e.STYLED
    assert "document.fonts" in e2e.STYLED
