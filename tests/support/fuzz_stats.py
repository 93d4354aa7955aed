"""The figures of the fuzz run over every route, printed at the end of the test run.

tests/conftest.py's `pytest_terminal_summary` prints them (so `make test` and CI show them):
routes checked, bad inputs tried, server errors seen, and refused requests that wrote anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FuzzFigures:
    routes: set[str] = field(default_factory=set)
    inputs: int = 0
    server_errors: list[str] = field(default_factory=list)
    refused: int = 0
    accepted: int = 0
    writes_by_refused: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"routes checked: {len(self.routes)} (method and endpoint)",
            f"bad inputs tried: {self.inputs} "
            f"({self.refused} refused with 4xx or the form shown again, "
            f"{self.accepted} taken as valid after normalisation)",
            f"500s seen: {len(self.server_errors)}",
            f"refused requests that changed anything: {len(self.writes_by_refused)}",
        ]


FIGURES = FuzzFigures()
