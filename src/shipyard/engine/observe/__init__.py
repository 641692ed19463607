"""Observe: metrics, alert rules and their notifications, central logs and their search."""
