"""PostgreSQL adapter: table definitions, engine, Alembic migrations."""
