"""Triggers' side effects: git checkouts of pushed commits."""
