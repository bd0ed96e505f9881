"""SQL shipped as package data; loaded with `clio_dagster.storage.load_sql`."""
