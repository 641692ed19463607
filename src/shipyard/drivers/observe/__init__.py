"""Observe's edges: the log archive and the notification receivers (SMTP, HTTP)."""
