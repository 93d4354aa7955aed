"""Use cases. Each takes a SQLAlchemy session and never commits: a request's
`surveyapp.web.unit_of_work` or a command's `with factory.begin():` block owns the transaction
(README, "Who owns the transaction")."""
