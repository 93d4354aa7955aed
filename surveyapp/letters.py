"""Letters to relatives (and to citizens who answer at home): what one letter says (pure).

A letter carries one link: a QR code holding the full address with the link's token, and, for
people who cannot scan, the short address and the typeable code written out. It names the
municipality and who sends it, why we ask and how long it takes, until when the link works,
whom to call, and that answering is voluntary. It never holds the CPR number or the
coordinator's label for the citizen; the citizen's first name only if the coordinator typed it
for this letter. The wording itself lives in the letter template (translated with Babel);
this module decides the facts, so that they can be tested without a web app.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import qrcode
import qrcode.constants
import qrcode.image.svg

from surveyapp.scheduling import DENMARK

LANGUAGES = ("da", "en")
AUDIENCES = ("relative", "citizen")
SHORT_PATH = "/k"
#: Seconds a respondent needs per question, and for the instruction screen, on average.
SECONDS_PER_QUESTION = 20
SECONDS_TO_BEGIN = 60
_MONTHS = {
    "da": [
        "januar",
        "februar",
        "marts",
        "april",
        "maj",
        "juni",
        "juli",
        "august",
        "september",
        "oktober",
        "november",
        "december",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
_SVG_ROOT = re.compile(r"<svg\b[^>]*>")
_VIEWBOX = re.compile(r'viewBox="([^"]+)"')


def link_url(public_url: str, token: str) -> str:
    """The full address in the QR code: the respondent's way in with the link's token."""
    return f"{public_url.rstrip('/')}/svar/{token}"


def short_url(public_url: str) -> str:
    """The short address printed for typing the code by hand."""
    return f"{public_url.rstrip('/')}{SHORT_PATH}"


def qr_svg(data: str) -> str:
    """The QR code of `data` as an inline SVG element (a single path, scalable).

    High error correction (a letter gets folded, stamped and scribbled on) and the standard
    quiet zone of four modules. The element has no fixed size: the letter's CSS sets it; the
    letter labels it (in its own language) around the element.
    """
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_H,
        border=4,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    code.add_data(data)
    code.make(fit=True)
    svg: str = str(code.make_image().to_string(encoding="unicode"))
    svg = svg.split("?>", 1)[-1].strip() if svg.startswith("<?xml") else svg
    root = _SVG_ROOT.search(svg)
    viewbox = _VIEWBOX.search(root.group(0)) if root else None
    if root is None or viewbox is None:  # pragma: no cover - the library's format changed
        raise RuntimeError("unexpected SVG from the qrcode library")
    new_root = (
        f'<svg class="qr" viewBox="{viewbox.group(1)}" xmlns="http://www.w3.org/2000/svg" '
        'aria-hidden="true" focusable="false" shape-rendering="crispEdges">'
    )
    body = svg[root.end() :].replace(' id="qr-path"', "")  # many letters share one document
    return svg[: root.start()] + new_root + body


def estimate_minutes(questions: int) -> int:
    """About how many minutes answering takes (rounded up, at least 2)."""
    seconds = SECONDS_TO_BEGIN + SECONDS_PER_QUESTION * max(0, questions)
    return max(2, math.ceil(seconds / 60))


def last_valid_day(expires_at: datetime) -> date:
    """The last whole day (Danish time) on which a link that ends at `expires_at` works.

    A link issued at 10:00 for 14 days ends at 10:00 on the 15th day; the letter promises only
    the days before it, so that "until and including" is always true.
    """
    return (expires_at.astimezone(DENMARK) - timedelta(days=1)).date()


def long_date(day: date, language: str) -> str:
    """A date as written in a letter: "15. december 2026" or "15 December 2026"."""
    month = _MONTHS["en" if language == "en" else "da"][day.month - 1]
    if language == "en":
        return f"{day.day} {month} {day.year}"
    return f"{day.day}. {month} {day.year}"


def code_groups(code: str) -> tuple[str, ...]:
    """The typeable code in its groups of four, for printing with space between them."""
    compact = re.sub(r"[^0-9A-Za-z]", "", code).upper()
    return tuple(compact[i : i + 4] for i in range(0, len(compact), 4))


@dataclass(frozen=True)
class Contact:
    """Who sends the letter and how to reach them (the municipality's letter settings)."""

    municipality: str
    sender: str | None = None
    phone: str | None = None
    email: str | None = None
    hours: str | None = None

    @property
    def signature(self) -> str:
        return self.sender or self.municipality


@dataclass(frozen=True)
class Letter:
    """Everything one letter shows. Only what a relative may see is in here."""

    assignment_id: int
    language: str  # da or en
    audience: str  # relative (about a family member) or citizen (about themselves)
    first_name: str | None  # typed for this letter, else None ("dit familiemedlem")
    questionnaire: str  # the instrument's title in the letter's language
    questions: int
    minutes: int
    contact: Contact
    issued_on: date
    valid_until: date
    opens_on: date | None  # when the questionnaire can be answered, if later than issued_on
    url: str  # the full link (in the QR code only, never printed as text)
    short_url: str
    code: tuple[str, ...]  # the typeable code in groups of four
    qr: str  # inline SVG of the QR code of `url`

    @property
    def issued_text(self) -> str:
        return long_date(self.issued_on, self.language)

    @property
    def valid_until_text(self) -> str:
        return long_date(self.valid_until, self.language)

    @property
    def opens_text(self) -> str:
        return long_date(self.opens_on, self.language) if self.opens_on else ""


def clean_first_name(typed: str | None) -> str | None:
    """The first name as it goes into the letter: trimmed, one word at most 40 long, or None."""
    name = " ".join((typed or "").split())[:40]
    return name or None


def build_letter(
    *,
    assignment_id: int,
    public_url: str,
    token: str,
    code: str,
    expires_at: datetime,
    opens_at: datetime | None,
    issued_at: datetime,
    language: str,
    audience: str,
    first_name: str | None,
    questionnaire: str,
    questions: int,
    contact: Contact,
) -> Letter:
    """Put one letter together from a freshly issued link (its token and code are shown once)."""
    if language not in LANGUAGES:
        raise ValueError(f"letters are written in {', '.join(LANGUAGES)}, not {language!r}")
    if audience not in AUDIENCES:
        raise ValueError(f"a letter is for a relative or a citizen, not {audience!r}")
    url = link_url(public_url, token)
    issued_on = issued_at.astimezone(DENMARK).date()
    opens_on = opens_at.astimezone(DENMARK).date() if opens_at is not None else None
    return Letter(
        assignment_id=assignment_id,
        language=language,
        audience=audience,
        first_name=clean_first_name(first_name),
        questionnaire=questionnaire,
        questions=questions,
        minutes=estimate_minutes(questions),
        contact=contact,
        issued_on=issued_on,
        valid_until=last_valid_day(expires_at),
        opens_on=opens_on if opens_on is not None and opens_on > issued_on else None,
        url=url,
        short_url=short_url(public_url),
        code=code_groups(code),
        qr=qr_svg(url),
    )
