"""Migrations of the notes-on-PostgreSQL database: `python migrate.py up|down|status|plan`.

The schema version is a one-row table; each migration runs in one transaction with its bump.
`plan` prints the SQL of the pending migrations and changes nothing (a read-only transaction).
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


def plan(conn: psycopg.Connection) -> int:
    conn.execute("SET TRANSACTION READ ONLY")
    found = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    row = conn.execute("SELECT version FROM schema_version").fetchone() if found and found[0] else None
    version = row[0] if row else 0
    pending = list(enumerate(MIGRATIONS[version:], start=version + 1))
    print(f"-- schema version {version}; {len(pending)} pending migration(s)")
    for number, (name, up, _) in pending:
        print(f"-- {number}: {name}\nBEGIN;\n{up};\nUPDATE schema_version SET version = {number};\nCOMMIT;")
    return 0


def main(command: str) -> int:
    if command == "plan":
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            return plan(conn)
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
            else [(MIGRATIONS[version - 1][0], MIGRATIONS[version - 1][2], version - 1)]
            if version
            else []
        )
        for name, sql, new in steps:
            with conn.transaction():
                conn.execute(sql)
                conn.execute("UPDATE schema_version SET version = %s", (new,))
            print(f"{command}: {name} (now version {new})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "status"))
