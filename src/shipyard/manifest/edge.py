"""The ``environments.<name>.edge`` keys of shipyard.yaml: what HAProxy does with a request before
the app sees it (rate limits, body size, client networks, sticky sessions, compression).

``Manifest.edge_rules`` turns them into ``core.edge.EdgeRules`` for the layout
(``core/layout.py``); ``core/proxy_edge.py`` renders them. A malformed network, a negative rate or a
bad prefix is refused here with its key path (``manifest/loader.py`` prints it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from shipyard.core.edge import EdgeRules, RateLimit, parse_network
from shipyard.core.proxy_checks import PREFIX
from shipyard.core.tls import Hsts, Tls
from shipyard.manifest.base import Model
from shipyard.manifest.checks import Duration, EnvVarName, unsafe

HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30}
MAX_BODY = 2**40


def parse_body_size(value: object) -> int:
    """ "10m", "512k", "1g" (powers of 1024, as nginx's client_max_body_size) or bytes -> bytes."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    match = _SIZE.match(text) if isinstance(text, str) else None
    size = int(match.group(1)) * _UNITS[(match.group(2) or "b")[0].lower()] if match else 0
    if not 0 < size <= MAX_BODY:
        raise ValueError(
            f"{value!r} is not a body size: write it as 10m, 512k or 1g (more than 0, at most 1024g)"
        )
    return size


def check_network(value: str) -> str:
    try:
        return parse_network(value)
    except ValueError as exc:
        raise unsafe(
            str(exc), "write a network as address/prefix, such as 10.0.0.0/8 or 192.168.1.7/32"
        ) from None


def check_prefix(value: str) -> str:
    prefix = value.rstrip("/") if value != "/" else value
    if not PREFIX.match(prefix):
        raise unsafe(
            f"{value[:80]!r} is not a path prefix",
            "write a path such as /api or /api/v2 (plain path characters, no query); "
            "for every path use the limit's own requests and per",
        )
    return prefix


def check_host(value: str) -> str:
    host = value.strip().lower().rstrip(".")
    if len(host) > 253 or not HOST.match(host):
        raise unsafe(
            f"{value[:80]!r} is not a host name",
            "write a name such as example.com or *.example.com (letters, digits, dashes and dots)",
        )
    return host


Network = Annotated[str, AfterValidator(check_network)]
Host = Annotated[str, AfterValidator(check_host)]
Prefix = Annotated[str, AfterValidator(check_prefix)]
BodySize = Annotated[int, BeforeValidator(parse_body_size)]


class PathLimit(Model):
    requests: int = Field(ge=1, le=1_000_000_000, description="Requests one client may make per window.")
    per: Duration = Field(gt=0, description="The window, such as 1s or 10s.")


class RateLimitSpec(Model):
    requests: int | None = Field(
        None,
        ge=1,
        le=1_000_000_000,
        description="Requests one client address may make per `per` on every path (429 beyond).",
    )
    per: Duration = Field(10.0, gt=0, description="The window of `requests`, such as 10s.")
    paths: dict[Prefix, PathLimit] = Field(
        default_factory=dict,
        description="Own limits for paths under a prefix (`/api` covers /api and /api/...); the "
        "longest matching prefix applies, on top of the limit on every path.",
    )

    def limits(self) -> tuple[RateLimit, ...]:
        every = (RateLimit(self.requests, self.per),) if self.requests is not None else ()
        return every + tuple(RateLimit(p.requests, p.per, prefix) for prefix, p in sorted(self.paths.items()))


class HstsSpec(Model):
    max_age: Duration = Field(31_536_000, ge=0, description="How long browsers keep to HTTPS, such as 365d.")
    include_subdomains: bool = Field(False, description="Add `includeSubDomains`: every subdomain too.")
    preload: bool = Field(False, description="Add `preload` (opt in: browsers' preload lists keep it).")


LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


class AcmeSpec(Model):
    directory: str = Field(
        LETS_ENCRYPT,
        pattern=r"^https://[^\s]+$",
        description="The ACME (RFC 8555) directory URL: Let's Encrypt by default; its staging "
        "(`https://acme-staging-v02.api.letsencrypt.org/directory`) or any other server.",
    )
    email: str | None = Field(
        None, pattern=r"^[^@\s]+@[^@\s]+$", description="Contact address of the ACME account (expiry mail)."
    )
    ca_bundle: str | None = Field(
        None,
        description="PEM file of the root that signs a private ACME server's HTTPS (pebble's, a "
        "company CA); relative to shipyard.yaml. The system's roots when unset.",
    )


class TlsFiles(Model):
    cert: str | None = Field(
        None,
        description="The certificate chain's PEM file (the server's own first); relative to shipyard.yaml. "
        "With `key_secret`; or use `acme` instead.",
    )
    key_secret: EnvVarName | None = Field(
        None, description="The vault secret holding its private key (PEM), set with `shipyard secrets set`."
    )
    acme: AcmeSpec | None = Field(
        None,
        description="Instead of `cert`: certificates issued for `edge.domains` by an ACME server "
        "(HTTP-01 answered by HAProxy), kept in the vault and renewed 30 days before they expire. "
        "`tls: acme` is short for `tls: {acme: {}}`.",
    )
    min_version: Literal["1.2", "1.3"] = Field("1.2", description="Lowest TLS version accepted.")
    redirect: bool = Field(False, description="Answer plain HTTP requests with a 308 to HTTPS.")
    hsts: HstsSpec | None = Field(None, description="Send Strict-Transport-Security on HTTPS answers.")

    @model_validator(mode="before")
    @classmethod
    def _acme_shorthand(cls, data: object) -> object:
        return {"acme": {}} if data == "acme" else data

    @model_validator(mode="after")
    def _one_source(self) -> TlsFiles:
        files = self.cert is not None or self.key_secret is not None
        if files == (self.acme is not None) or (files and (self.cert is None or self.key_secret is None)):
            raise ValueError(
                "give the certificate as `cert` and `key_secret` (a chain file and the vault's key), "
                "or as `acme` (issued automatically), not both"
            )
        return self


class Edge(Model):
    https_port: int | None = Field(
        None, ge=1, le=65535, description="Port of the HTTPS listener (beside `port`); needs `tls`."
    )
    domains: tuple[Host, ...] = Field(
        (), max_length=100, description="Host names served here; a certificate must cover each."
    )
    tls: TlsFiles | None = Field(
        None,
        description="Terminate TLS in HAProxy: `{cert, key_secret}` (a chain file and the vault's key) "
        "or `acme` / `{acme: {directory, email, ca_bundle}}` (issued and renewed automatically).",
    )
    rate_limit: RateLimitSpec | None = Field(
        None, description="Requests per client address (HAProxy stick tables); over it: 429 with Retry-After."
    )
    max_body: BodySize | None = Field(
        None, description="Largest request body, such as 10m (Content-Length); larger: 413."
    )
    allow: tuple[Network, ...] = Field(
        (), max_length=200, description="Client networks (CIDR) let in; when set, any other gets 403."
    )
    deny: tuple[Network, ...] = Field(
        (), max_length=200, description="Client networks (CIDR) answered 403, even inside `allow`."
    )
    sticky: Literal["cookie"] | None = Field(
        None,
        description="`cookie`: a cookie keeps each user on one instance and, during a canary, on one "
        "version; after a switch or rollback users move on their next request.",
    )
    compression: bool = Field(
        True, description="Gzip text answers (HTML, CSS, JS, JSON, XML) that the app did not compress."
    )

    @model_validator(mode="after")
    def _tls_has_port(self) -> Edge:
        if (self.tls is None) != (self.https_port is None):
            raise ValueError("`tls` and `https_port` go together: set both (or neither)")
        if self.acme is not None and not self.domains:
            raise ValueError("`tls: acme` needs `domains`: the names the certificate is issued for")
        if self.acme is not None and any(d.startswith("*.") for d in self.domains):
            raise ValueError("`tls: acme` validates by HTTP-01, which issues no `*.` names: list each name")
        return self

    @property
    def acme(self) -> AcmeSpec | None:
        """The ACME settings when the certificate is issued automatically (``tls: acme``)."""
        return self.tls.acme if self.tls is not None else None

    def tls_settings(self) -> Tls | None:
        if self.tls is None or self.https_port is None:
            return None
        spec, hsts = self.tls, self.tls.hsts
        return Tls(
            port=self.https_port,
            min_version=spec.min_version,
            redirect=spec.redirect,
            acme=spec.acme is not None,
            hsts=Hsts(int(hsts.max_age), hsts.include_subdomains, hsts.preload) if hsts else None,
        )

    def rules(self) -> EdgeRules:
        return EdgeRules(
            rate_limits=self.rate_limit.limits() if self.rate_limit else (),
            max_body=self.max_body,
            allow=self.allow,
            deny=self.deny,
            compression=self.compression,
            tls=self.tls_settings(),
            domains=self.domains,
        )


def check_domains(edges: Mapping[str, Edge]) -> None:
    """Each host name served by one environment only (a certificate, a route: whose would it be?)."""
    owners: dict[str, str] = {}
    for env, edge in edges.items():
        for domain in edge.domains:
            if owners.setdefault(domain, env) != env:
                raise ValueError(
                    f"environments {owners[domain]} and {env} both claim the domain {domain}: "
                    "give each name to one environment (`edge.domains`)"
                )
