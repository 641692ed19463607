"""Migrations of the notes-on-PostgreSQL database: `python migrate.py up|down|status`.

The schema version is a one-row table; each migration runs in one transaction with its bump.
"""

import os
import sys

import psycopg

MIGRATIONS = [
    (
        "create table notes",
        "CREATE TABLE notes (id bigserial PRIMARY KEY, text text NOT NULL, created_at timestamptz NOT NULL)",
        "DROP TABLE notes",
    ),
]


def main(command: str) -> int:
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version int NOT NULL)")
        if conn.execute("SELECT count(*) FROM schema_version").fetchone() == (0,):
            conn.execute("INSERT INTO schema_version VALUES (0)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if command == "status":
            print(f"version {version} of {len(MIGRATIONS)}")
            return 0
        steps = (
            [(n, up, v + 1) for v, (n, up, _) in enumerate(MIGRATIONS) if v >= version]
            if command == "up"
            else [(MIGRATIONS[version - 1][0], MIGRATIONS[version - 1][2], version - 1)] if version else []
        )
        for name, sql, new in steps:
            with conn.transaction():
                conn.execute(sql)
                conn.execute("UPDATE schema_version SET version = %s", (new,))
            print(f"{command}: {name} (now version {new})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "status"))
