"""surveyapp: outcome questionnaires for Danish municipal rehabilitation (SEL § 83 a).

The package root imports nothing, so that the pure layers (instruments, domain modules) can be
used without Flask. The web app is made by `surveyapp.app.create_app`.
"""

__version__ = "0.1.0"
