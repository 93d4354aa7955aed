"""Redirect targets taken from a request: only a path on this site is ever followed (pure).

A browser does not follow a Location header the way Python's `urlsplit` reads it: it strips
leading and trailing spaces and control characters, removes every tab, CR and LF anywhere,
and treats a backslash as a slash. So `/\\t/evil.example` (what `next=/%09/evil.example`
decodes to) becomes `//evil.example` in the browser: another host. Instead of imitating one
browser's normalisation, `local_path` refuses everything a browser might normalise and
accepts only a plain absolute path that stays on this host however it is read: it starts with
one `/`, holds no control character, space, backslash or non-ASCII character (a browser may
map some of those to a slash), no scheme and no host, and the same holds after one round of
percent-decoding (so that `/%2F/evil.example`, or a target passed through one more decoding,
cannot turn into `//evil.example`). Anything else gives None and the caller uses its own
default. Targets come from our own pages (the path the user asked for before login), so a
refused target only costs the user a detour to the start page.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_LENGTH = 2000
# Printable ASCII except space and backslash: what an unambiguous local path may hold.
_PLAIN = frozenset(chr(c) for c in range(0x21, 0x7F)) - {"\\"}
# After percent-decoding, letters such as æ and spaces are harmless; controls and "\\" are not.
_NEVER_DECODED = frozenset(chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))) | {"\\"}


def _stays_here(text: str) -> bool:
    if not text.startswith("/") or text.startswith(("//", "/\\")):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. a host that NFKC normalisation would change ("//／")
        return False
    return not parts.scheme and not parts.netloc


def local_path(target: object) -> str | None:
    """`target` if it is a path on this site whatever a browser does to it, else None."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return None
    if not _stays_here(target) or any(ch not in _PLAIN for ch in target):
        return None
    try:
        decoded = unquote(target, errors="strict")
    except UnicodeDecodeError:
        return None
    if not _stays_here(decoded) or any(ch in _NEVER_DECODED for ch in decoded):
        return None
    return target


def local_referrer(referrer: object, host: str) -> str | None:
    """The path of a Referer that names this very host (`host` as the request has it), else None.

    Only the path and query of such an address are returned, and only if `local_path` accepts
    them; an address on any other host, or one a browser might read as another host, is None.
    """
    if not isinstance(referrer, str) or not referrer or len(referrer) > MAX_LENGTH:
        return None
    if any(ch not in _PLAIN for ch in referrer):
        return None
    try:
        parts = urlsplit(referrer)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
        return None
    if "@" in parts.netloc:
        return None
    path = parts.path or "/"
    return local_path(f"{path}?{parts.query}" if parts.query else path)
