"""The shared edge's pure parts: which environment a host name reaches (exact names before
wildcards, longer wildcards first), the names refused (malformed, claimed twice), and the
configuration rendered from them (``core/edge_routes.py``, ``core/edge_config.py``), plus the
Unix binds an environment with domains gets on its own frontend (``core/proxy_edge.py``)."""

from __future__ import annotations

import pytest
from tests.unit.test_edge_rules import MAPS, backend

from shipyard.core.edge import EdgeRules
from shipyard.core.edge_config import EdgePorts, render_edge_config
from shipyard.core.edge_routes import Route, check_routes, match_host
from shipyard.core.proxy import render_haproxy_config
from shipyard.core.proxy_layout import ProxyLayout
from shipyard.core.tls import Tls
from shipyard.errors import ManifestError, ProxyError


def route(app: str, env: str, *domains: str, tls: bool = False) -> Route:
    where = f"{app}/shipyard.yaml: environments.{env}.edge.domains"
    https = f"../{app}/edge-{env}-https.sock" if tls else None
    return Route(app, env, domains, where, f"../{app}/edge-{env}-http.sock", https)


SHOP = route("shop", "production", "shop.example.com", "*.shop.example.com", tls=True)
BLOG = route("blog", "production", "blog.example.com", "*.example.com")
STAGING = route("shop", "staging", "staging.shop.example.com")
ROUTES = [BLOG, SHOP, STAGING]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("shop.example.com", SHOP),
        ("SHOP.Example.COM:8443", SHOP),  # case and a port do not matter
        ("shop.example.com.", SHOP),  # nor a final dot
        ("staging.shop.example.com", STAGING),  # exact wins over *.shop.example.com
        ("eu.shop.example.com", SHOP),  # the longer wildcard wins over *.example.com
        ("a.b.shop.example.com", SHOP),  # a wildcard covers every name below it
        ("news.example.com", BLOG),
        ("example.com", None),  # *.example.com does not cover example.com itself
        ("blog.example.org", None),
        ("", None),
        ("xshop.example.com", BLOG),  # a suffix must start at a dot
    ],
)
def test_match_host(host: str, expected: Route | None) -> None:
    assert match_host(host, ROUTES) == expected


def test_a_name_claimed_twice_names_both_places() -> None:
    twice = route("blog", "staging", "SHOP.example.com")
    with pytest.raises(ManifestError) as exc:
        check_routes([SHOP, twice])
    message = exc.value.message
    assert message.startswith("blog/shipyard.yaml: environments.staging.edge.domains[0]")
    assert "'shop.example.com' is already claimed by environment 'production' of app 'shop'" in message
    assert "remove it from one of the two" in exc.value.hint


def test_two_environments_of_one_app_cannot_share_a_name() -> None:
    with pytest.raises(ManifestError, match="already claimed"):
        check_routes([route("shop", "a", "x.example.com"), route("shop", "b", "x.example.com")])


@pytest.mark.parametrize(
    "bad", ["exa mple.com", "*example.com", "a.*.example.com", "-a.com", "a" * 64 + ".com", ""]
)
def test_malformed_names_are_refused_with_their_key_path(bad: str) -> None:
    with pytest.raises(ManifestError) as exc:
        check_routes([route("shop", "production", "ok.example.com", bad)])
    assert "environments.production.edge.domains[1]" in exc.value.message
    assert "*.example.com" in exc.value.hint


def test_an_app_name_that_could_break_the_config_is_refused() -> None:
    with pytest.raises(ManifestError, match="is not an app name"):
        check_routes([route("Shop\n", "production", "a.example.com")])


def test_http_rules_are_in_matching_order_and_unknown_hosts_get_404() -> None:
    text = render_edge_config(ROUTES, EdgePorts(8080, 8443, "127.0.0.1"), "/run/edge/admin.sock")
    uses = [ln.strip() for ln in text.splitlines() if "use_backend http_" in ln]
    assert uses == [
        "use_backend http_shop_staging if { req.hdr(host),field(1,:),lower -m str staging.shop.example.com }",
        "use_backend http_blog_production if { req.hdr(host),field(1,:),lower -m str blog.example.com }",
        "use_backend http_shop_production if { req.hdr(host),field(1,:),lower -m str shop.example.com }",
        "use_backend http_shop_production if { req.hdr(host),field(1,:),lower -m end .shop.example.com }",
        "use_backend http_blog_production if { req.hdr(host),field(1,:),lower -m end .example.com }",
    ]
    assert "bind 127.0.0.1:8080" in text
    assert "default_backend edge_not_found" in text
    assert 'http-request return status 404 content-type text/plain string "no app serves' in text
    assert "server app unix@../shop/edge-production-http.sock send-proxy-v2" in text


def test_https_goes_by_sni_to_environments_with_tls_only() -> None:
    text = render_edge_config(ROUTES, EdgePorts(8080, 8443, "127.0.0.1"), "/run/edge/admin.sock")
    https = text[text.index("frontend edge_https") :]
    assert "bind 127.0.0.1:8443" in https and "mode tcp" in https
    assert "use_backend https_shop_production if { req.ssl_sni,lower -m str shop.example.com }" in https
    assert "https_blog" not in text  # blog has no TLS: its names are not served on 443
    assert "default_backend edge_unknown_name" in https
    assert "server app unix@../shop/edge-production-https.sock send-proxy-v2" in text


def test_without_an_https_port_there_is_no_https_frontend() -> None:
    text = render_edge_config(ROUTES, EdgePorts(8080), "/run/edge/admin.sock")
    assert "edge_https" not in text and "https_shop" not in text
    assert "bind 0.0.0.0:8080" in text


def test_a_duplicate_renders_nothing() -> None:
    with pytest.raises(ManifestError):
        twice = route("blog", "x", "shop.example.com")
        render_edge_config([SHOP, twice], EdgePorts(8080), "/run/edge/admin.sock")


def test_a_socket_path_too_long_for_haproxy_is_refused() -> None:
    long = Route("shop", "production", ("a.example.com",), "here", "../" + "x" * 100 + ".sock")
    with pytest.raises(ProxyError, match="app shop's socket"):
        render_edge_config([long], EdgePorts(8080), "/run/edge/admin.sock")


def test_an_environment_with_domains_binds_the_edge_sockets_with_accept_proxy() -> None:
    rules = EdgeRules(domains=("shop.example.com",), tls=Tls(8443))
    text = render_haproxy_config(ProxyLayout((backend(rules),)), "/run/admin.sock", None, MAPS)
    assert "    bind unix@edge-dev-http.sock accept-proxy mode 600" in text
    https = next(ln for ln in text.splitlines() if "unix@edge-dev-https.sock" in ln)
    assert "accept-proxy mode 600 ssl crt" in https and "ssl-min-ver TLSv1.2" in https
    plain = render_haproxy_config(ProxyLayout((backend(EdgeRules()),)), "/run/admin.sock", None, MAPS)
    assert "unix@" not in plain.split("frontend fe_dev", 1)[1]  # no domains: the port only
