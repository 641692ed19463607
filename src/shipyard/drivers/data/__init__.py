"""Data's edges: database queries, and the backup pipeline (compression, encryption, storage)."""
