"""Triggers: a git push or a host's webhook builds, tests and deploys a commit."""
