"""Data: the app's database, backups and their schedule, restores, drills, masked copies, migrations."""
