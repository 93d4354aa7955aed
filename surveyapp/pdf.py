"""HTML to PDF with WeasyPrint, imported only when a PDF is made.

WeasyPrint needs Pango, HarfBuzz and fontconfig from the operating system (Debian:
libpango-1.0-0, libpangoft2-1.0-0, libharfbuzz0b, libharfbuzz-subset0, fontconfig, and a
font such as fonts-dejavu-core; `make run` and `make test` install them through
scripts/system-packages.sh). The import is lazy so that the app starts without them; only
the PDF download then says what is missing.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

MISSING_HINT = (
    "PDF letters need WeasyPrint and the system libraries Pango, HarfBuzz and fontconfig "
    "(Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b "
    "libharfbuzz-subset0 fontconfig fonts-dejavu-core; or run scripts/system-packages.sh)."
)


class PdfUnavailable(RuntimeError):
    """WeasyPrint or its system libraries are missing; the message says what to install."""


@cache
def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: a system library could not be loaded
        log.warning("PDF letters unavailable: %s", exc)
        raise PdfUnavailable(f"{MISSING_HINT} ({exc})") from exc
    return weasyprint


def available() -> bool:
    """True if PDFs can be made on this machine."""
    try:
        _weasyprint()
    except PdfUnavailable:
        return False
    return True


def html_to_pdf(html: str) -> bytes:
    """Render a complete HTML document (inline CSS, no external resources) to PDF bytes."""
    weasyprint = _weasyprint()

    def refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ValueError(f"letters load no external resources: {url}")

    document = weasyprint.HTML(string=html, url_fetcher=refuse_fetch)
    pdf: bytes = document.write_pdf()
    return pdf
