"""Where a message gateway (SMS, e-mail, Digital Post) would plug in: today, letters are printed.

Every time a link is issued for a letter (one at a visit, or many in a PDF) the letters service
calls `Notifier.link_issued` with the finished letter. The default, `PrintOnly`, sends nothing:
the coordinator prints the letter or sends the PDF through Digital Post or a print shop.

To send links by SMS or e-mail instead, write a class with the same method that hands the
letter's short address and code (or its full link) to the gateway, and return it from
`notifier_for`. surveyapp stores no phone numbers or e-mail addresses of relatives: a gateway
needs the recipient's address from somewhere (a field on the issue form, or the municipality's
own systems), and its text must follow the same rules as the letter (no CPR number, no label).
"""

from __future__ import annotations

from typing import Protocol

from surveyapp.letters import Letter


class Notifier(Protocol):
    def link_issued(self, letter: Letter) -> bool:
        """Deliver the letter's link another way; True if it was sent (nothing to print)."""
        ...


class PrintOnly:
    """Send nothing: the letter is printed (the print view) or put in a PDF."""

    def link_issued(self, letter: Letter) -> bool:
        return False


def notifier_for(settings: object) -> Notifier:
    """The installation's notifier (the one place to return a gateway's)."""
    return PrintOnly()
