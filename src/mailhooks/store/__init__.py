"""The durable store: one code path for SQLite and PostgreSQL (SQLAlchemy Core)."""
