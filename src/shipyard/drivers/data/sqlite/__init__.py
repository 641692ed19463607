"""SQLite's files: online backups, the WAL and masked copies."""
