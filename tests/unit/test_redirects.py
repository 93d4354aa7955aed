"""surveyapp.redirects.local_path: no accepted target leaves the site, however a browser reads it.

The oracle below follows the WHATWG URL parser on the points that matter for a Location
header: leading and trailing C0 controls and spaces are stripped, every tab, CR and LF is
removed, a backslash counts as a slash (http and https are "special" schemes), and the target
is resolved against the page's own address. The property tests (hypothesis, 600 and 400
examples) generate targets from an alphabet of the characters that have led to open redirects.
"""

from __future__ import annotations

from urllib.parse import unquote, urljoin, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from surveyapp.redirects import local_path, local_referrer

BASE = "https://app.example/staff/citizens"


def browser_host(target: str) -> str:
    """The host a browser would go to when redirected to `target` from BASE."""
    text = target.strip("".join(chr(c) for c in range(0x21)))
    text = "".join(ch for ch in text if ch not in "\t\r\n")
    text = text.replace("\\", "/")
    return urlsplit(urljoin(BASE, text)).hostname or ""


NASTY = [
    "/%09/evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    " //evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%5C%5Cevil.example",
    "https://evil.example",
    "HTTPS://evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "//user:pass@evil.example",
    "/\x00/evil.example",
    "/\x0b/evil.example",
    "\x01//evil.example",
    "/\u3000/evil.example",
    "/\uff0f/evil.example",
    "evil.example",
    "staff/home",
    "",
    "/" + "a" * 2100,
]


@pytest.mark.parametrize("target", NASTY)
def test_known_tricks_are_refused(target: str) -> None:
    assert local_path(target) is None


@pytest.mark.parametrize(
    "target",
    [
        "/staff",
        "/staff/citizens/7",
        "/staff/citizens?q=AB%20C&page=2",
        "/staff/reports/who5?from=2024-01-01&to=2024-12-31",
        "/staff/citizens?q=%C3%A6%C3%B8%C3%A5",
        "/@evil.example",
    ],
)
def test_paths_of_this_site_are_kept(target: str) -> None:
    assert local_path(target) == target
    assert browser_host(target) == "app.example"


def test_the_probe_target_would_have_left_the_site() -> None:
    """The oracle itself: the probe's target does lead off-site in a browser."""
    assert browser_host(unquote("/%09/evil.example")) == "evil.example"
    assert browser_host("/\\evil.example") == "evil.example"


PIECES = st.sampled_from(
    [
        "/",
        "\\",
        "//",
        "\t",
        "\r",
        "\n",
        " ",
        "\x00",
        "\x0c",
        "%09",
        "%0a",
        "%2f",
        "%2F",
        "%5c",
        "%5C",
        "%25",
        "@",
        ":",
        "?",
        "#",
        ".",
        "..",
        "http:",
        "https:",
        "javascript:",
        "evil.example",
        "user:pw@",
        "staff",
        "a",
        "\uff0f",
        "\u3000",
        "\u202e",
    ]
)
TARGETS = st.lists(PIECES, min_size=1, max_size=12).map("".join)


@settings(max_examples=600, deadline=None)
@given(TARGETS)
@example("/\t/\uff0f")  # found by hypothesis: urlsplit raised on a full-width slash as host
def test_no_accepted_target_leaves_the_site(target: str) -> None:
    accepted = local_path(target)
    if accepted is None:
        return
    assert accepted == target
    assert browser_host(accepted) == "app.example"
    # Decoded once more (a proxy or a framework on the way), it still stays here.
    assert browser_host(unquote(accepted)) == "app.example"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_any_text_accepted_is_a_plain_path(target: str) -> None:
    accepted = local_path(target)
    if accepted is not None:
        assert accepted.startswith("/") and not accepted.startswith("//")
        assert browser_host(accepted) == "app.example"


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("https://app.example/staff/citizens/7", "/staff/citizens/7"),
        ("https://APP.example/staff/due?team=2", "/staff/due?team=2"),
        ("https://app.example", "/"),
        ("https://evil.example/staff", None),
        ("https://app.example.evil.example/staff", None),
        ("https://app.example\\@evil.example/", None),
        ("https://user@app.example/staff", None),
        ("https://app.example//evil.example/", None),
        ("https://app.example/%09/evil.example", None),
        ("javascript://app.example/%0aalert(1)", None),
        ("/staff/due", None),
        ("", None),
        (None, None),
    ],
)
def test_a_referer_is_used_only_when_it_names_this_host(
    referrer: str | None, expected: str | None
) -> None:
    assert local_referrer(referrer, "app.example") == expected
