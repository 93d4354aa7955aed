"""Fields shared by every form: a date field that refuses dates at the ends of the calendar."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import DateField as _WTFormsDateField

#: Every date a user may type lies in this range; anything else is refused as a typing error
#: before it reaches arithmetic (9999-12-31 + 1 day) or the database (year 1 in UTC).
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
OUT_OF_RANGE = _l("Give a date between 1900 and 2199, written as YYYY-MM-DD.")


class DateField(_WTFormsDateField):
    """WTForms' DateField, limited to the years 1900 to 2199 (a clear message outside)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not EARLIEST <= self.data <= LATEST:
            self.data = None
            raise ValueError(str(OUT_OF_RANGE))
