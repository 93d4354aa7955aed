"""Run the whole test suite as two pytest sessions side by side: the browser tests and the rest.

    python scripts/run_tests.py [pytest options ...]

The browser tests (tests/e2e) spend much of their time waiting for Chromium, the rest mostly
waits for nothing, so on a 2-core machine the two sessions together take little more than the
longer of them (the suite was 15 minutes in one session). Each session has its own fixtures
(its own temporary databases and PostgreSQL server, its own live server and browser). The
browser session's output is shown after the other's; the exit status is the first failure's.
Options are passed to both sessions (e.g. `-x`, `-m "not postgres"`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(options: list[str]) -> int:
    started = time.monotonic()
    pytest = [sys.executable, "-m", "pytest", *options]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as browser_log:
        browser = subprocess.Popen(  # noqa: S603 - this interpreter, our own test folders
            # (no hypothesis there: without its plugin the session never imports it late,
            # which CPython 3.11.7 can fail on while pytest rewrites its modules)
            [*pytest, "tests/e2e", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"],
            cwd=ROOT,
            stdout=browser_log,
            stderr=subprocess.STDOUT,
        )
        try:
            rest = subprocess.call([*pytest, "--ignore=tests/e2e"], cwd=ROOT)  # noqa: S603
            code = browser.wait()
        except BaseException:
            browser.kill()
            raise
        browser_log.seek(0)
        print("\n" + "=" * 30 + " browser tests (tests/e2e) " + "=" * 30, flush=True)
        sys.stdout.write(browser_log.read())
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    print(f"whole suite: {minutes} min {seconds} s (two sessions side by side)", flush=True)
    # 5: that session had no test to run (e.g. a -k that matches only the other's tests).
    return next((c for c in (rest, code) if c not in (0, 5)), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
