"""PostgreSQL's programs: initdb, pg_ctl, pg_basebackup, pg_dump and pg_restore, and masked copies."""
