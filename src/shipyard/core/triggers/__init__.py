"""Triggers' pure part: branch rules and the signed push events of git hosts."""
