"""Which paths are the dashboard's: ``server/gate.py`` lets them through without a bearer token
(a page's session cookie says who asks; ``web.signed_in`` checks it) and ``routes.py`` serves them."""

from __future__ import annotations

PAGES = frozenset(
    {"/", "/login", "/logout", "/releases", "/approvals", "/alerts", "/secrets", "/logs", "/backups"}
    | {"/audit", "/users"}
)
PREFIXES = ("/static/", "/deployments/", "/envs/", "/alerts/", "/users/", "/tokens/")


def is_page(path: str) -> bool:
    return path in PAGES or path.startswith(PREFIXES)
