"""WTForms: questionnaire forms built from instrument definitions, and staff forms."""
