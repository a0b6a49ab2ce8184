"""PostgreSQL access: connection management and schema migrations."""
