"""Exports: columns from the instrument registry, a codebook, and file writers.

Pure of the web and the database: nothing here imports Flask or SQLAlchemy. The rows come
from `surveyapp.services.exports`, which reads them from the database in a stream.
"""

from surveyapp.exports.codebook import Codebook, build_codebook, codebook_json, write_codebook_json
from surveyapp.exports.layout import (
    CodedMissing,
    Kind,
    Layout,
    Source,
    Variable,
    layout,
    long_layout,
    wide_layout,
)
from surveyapp.exports.writers import (
    build_frame,
    iter_csv,
    neutralise,
    write_codebook_csv,
    write_csv,
    write_dta,
    write_sav,
    write_xlsx,
)

__all__ = [
    "CodedMissing",
    "Codebook",
    "Kind",
    "Layout",
    "Source",
    "Variable",
    "build_codebook",
    "build_frame",
    "codebook_json",
    "iter_csv",
    "layout",
    "long_layout",
    "neutralise",
    "wide_layout",
    "write_codebook_csv",
    "write_codebook_json",
    "write_csv",
    "write_dta",
    "write_sav",
    "write_xlsx",
]
