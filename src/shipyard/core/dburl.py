"""An external PostgreSQL server's URL: its ``#{NAME}#`` tokens resolved, its password masked. Pure.

``database.url`` may hold tokens, e.g. ``postgresql://app:#{DB_PASSWORD}#@db.internal/app``.
A token is resolved as a configuration token is (``core/config.py``): it names a
configuration key of the environment (already resolved by ``resolve_partly``) or, when
there is none, a secret of the environment. A value put into the user-information part
(``user:password@``) is percent-encoded, so a password holding ``@``, ``/`` or ``#`` still
makes a valid URL; elsewhere (a host, a whole URL) values go in as they are.

``mask_url`` is what may be shown of any URL (template or resolved): the password, literal
or a token, replaced by ``**********``, and so is a ``password=`` query parameter.
``split_url`` gives the URL without its password (what a program may see on its command
line) and the password (for ``PGPASSWORD``). Called by ``engine/data/database.py`` (the app's
``DATABASE_URL``) and ``engine/data/postgres/dumps.py`` (backups).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode

from shipyard.core.config import MASK, TOKEN, Setting
from shipyard.errors import ManifestError


def url_key(own_database: object, env: str) -> str:
    """The manifest key path of ``env``'s url: its own ``database.url`` or the top-level one."""
    fields: set[str] = getattr(own_database, "model_fields_set", set())
    return f"environments.{env}.database.url" if "url" in fields else "database.url"


def _parts(url: str) -> tuple[int, int, int]:
    """Where the authority starts, where its user information ends (-1: none), where it ends."""
    start = url.find("://")
    start = 0 if start < 0 else start + 3
    stop = len(url)
    for sep in "/?":
        at = url.find(sep, start)
        if at >= 0:
            stop = min(stop, at)
    at = url.rfind("@", start, stop)
    return start, at, stop


def uses_tokens(url: str) -> bool:
    return TOKEN.search(url) is not None


def resolve_url(
    template: str,
    where: str,
    env: str,
    settings: Mapping[str, Setting],
    config_keys: Collection[str],
    secrets: Mapping[str, str],
) -> str:
    """``template`` with every token replaced; raise naming ``where`` (the key path) and the fix.

    ``settings`` are the environment's resolved configuration values, ``config_keys`` every
    key its layers set (a key that is set but does not resolve is reported as such)."""
    start, userinfo_end, _ = _parts(template)
    out: list[str] = []
    pos = 0
    for match in TOKEN.finditer(template):
        name = match.group(1)
        if name in settings:
            value = settings[name].value
        elif name in config_keys:
            raise ManifestError(
                f"{where}: #{{{name}}}# names the configuration key {name} of {env}, which does not resolve",
                f"see what is wrong with it: `shipyard config show {env}`",
            )
        elif name in secrets:
            value = secrets[name]
        else:
            raise ManifestError(
                f"{where}: #{{{name}}}# names no secret or configuration key of {env}",
                f"store it as a secret of {env}: `shipyard secrets set {env} {name}` "
                f"(or add {name} to config)",
            )
        in_userinfo = match.start() >= start and match.end() <= userinfo_end
        out.append(template[pos : match.start()])
        out.append(quote(value, safe="") if in_userinfo else value)
        pos = match.end()
    out.append(template[pos:])
    return "".join(out)


def _query(url: str, stop: int) -> tuple[str, str]:
    """The URL up to its query, and the query (without ``?``)."""
    at = url.find("?", stop)
    return (url, "") if at < 0 else (url[:at], url[at + 1 :])


def mask_url(url: str) -> str:
    """``url`` as it may be shown: no password in it, whether literal, resolved or a token."""
    start, userinfo_end, stop = _parts(url)
    if userinfo_end >= 0:
        userinfo = url[start:userinfo_end]
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            url = f"{url[:start]}{user}:{MASK}{url[userinfo_end:]}"
            start, userinfo_end, stop = _parts(url)
    head, query = _query(url, stop)
    if not query:
        return url
    pairs = [(k, MASK if k == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return f"{head}?{urlencode(pairs, safe='*')}"


def split_url(url: str) -> tuple[str, str | None]:
    """``url`` without its password, and the password (None: libpq finds it, e.g. PGPASSFILE)."""
    start, userinfo_end, stop = _parts(url)
    password: str | None = None
    if userinfo_end >= 0:
        userinfo = url[start:userinfo_end]
        if ":" in userinfo:
            user, secret = userinfo.split(":", 1)
            password = unquote(secret)
            url = f"{url[:start]}{user}{url[userinfo_end:]}"
            start, userinfo_end, stop = _parts(url)
    head, query = _query(url, stop)
    if not query:
        return url, password
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k != "password"]
    password = next((v for k, v in pairs if k == "password"), password)
    return (f"{head}?{urlencode(kept)}" if kept else head), password
