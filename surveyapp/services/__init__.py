"""Use cases. Each takes a SQLAlchemy session and leaves committing to its caller's
`with factory.begin():` block, so one request is one transaction."""
