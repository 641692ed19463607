"""The SQLite engine: online backups, the WAL stream and restores to a point in time."""
