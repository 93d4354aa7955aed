"""The admin's upload form for importing paper and legacy responses."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired

from surveyapp.forms.base import FlaskForm


class ImportUploadForm(FlaskForm):
    file = FileField(
        _l("File (CSV or Excel .xlsx)"),
        description=_l(
            "One response per row. Nothing is imported before you have seen the preview and "
            "confirmed it."
        ),
        validators=[FileRequired(_l("Choose a file."))],
    )
