"""``shipyard certs list|renew``: the edge's TLS certificates.

A thin edge over ``/api/certs``. ``list`` shows each HTTPS listener's certificate: the names it
covers, its issuer, when it expires and when its files were last checked (with the error when
they failed: the last good certificate keeps serving). ``renew ENV`` reads the chain and the key
again and serves them over HAProxy's runtime API when they pass their checks.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from shipyard.cli.session import client

if TYPE_CHECKING:
    from shipyard.schemas.certs import Certificate

certs_app = typer.Typer(no_args_is_help=True, help="The edge's TLS certificates: list and renew.")
console = Console(soft_wrap=True)


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _line(cert: Certificate) -> str:
    names = ", ".join(cert.names) or "(none served yet)"
    left = "" if cert.expires_at is None else f" ({(cert.expires_at - time.time()) / 86400:.0f} days)"
    failed = f"\n  [red]last check failed:[/] {escape(cert.last_error)}" if cert.last_error else ""
    retry = f"\n  next try {_when(cert.next_try)}" if cert.next_try else ""
    return (
        f"{cert.env:<12} {escape(names)}  from {cert.source}  issuer {escape(cert.issuer) or '-'}  "
        f"expires {_when(cert.expires_at)}{left}  checked {_when(cert.last_attempt)}{failed}{retry}"
    )


@certs_app.command("list")
def list_() -> None:
    """Each HTTPS listener's certificate: names, issuer, expiry, last check."""
    from shipyard.schemas.certs import Certificates

    certs = Certificates.model_validate(client().get("/api/certs")).certificates
    if not certs:
        console.print("no HTTPS listener (`edge.tls` in shipyard.yaml)")
    for cert in certs:
        console.print(_line(cert), highlight=False)


@certs_app.command("renew")
def renew(env: Annotated[str, typer.Argument(help="Environment.")]) -> None:
    """Read ENV's certificate chain and key again and serve them (no HAProxy reload)."""
    from shipyard.schemas.certs import Certificate

    console.print(
        _line(Certificate.model_validate(client().post(f"/api/certs/{env}/renew"))), highlight=False
    )
