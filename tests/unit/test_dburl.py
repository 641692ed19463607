"""An external server's url: tokens resolved like configuration tokens, passwords masked and split."""

from __future__ import annotations

import pytest

from shipyard.core import config as c
from shipyard.core.dburl import mask_url, resolve_url, split_url, url_key
from shipyard.errors import ManifestError
from shipyard.manifest.database import Database
from shipyard.manifest.loader import parse_manifest

SECRETS = {"DB_PASSWORD": "s3cret", "ODD": "p@ss/w#rd:x", "HOST": "db.internal:5433"}


def resolved(template: str, config: dict[str, str] | None = None, secrets: dict[str, str] = SECRETS) -> str:
    settings, _ = c.resolve_partly("prod", config or {}, {}, {}, secrets, {})
    return resolve_url(template, "database.url", "prod", settings, set(config or {}), secrets)


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        ("postgresql://app:#{DB_PASSWORD}#@db:5432/app", "postgresql://app:s3cret@db:5432/app"),
        # a value inside user:password@ is percent-encoded, so the URL stays one URL
        ("postgresql://app:#{ODD}#@db/app", "postgresql://app:p%40ss%2Fw%23rd%3Ax@db/app"),
        # elsewhere it goes in as it is (a host and port)
        ("postgresql://app:#{DB_PASSWORD}#@#{HOST}#/app", "postgresql://app:s3cret@db.internal:5433/app"),
        ("postgresql://app@db/app?sslmode=#{MODE}#", "postgresql://app@db/app?sslmode=require"),
    ],
)
def test_tokens_resolve_from_configuration_then_secrets(template: str, want: str) -> None:
    assert resolved(template, {"MODE": "require"}) == want


def test_a_configuration_key_wins_over_a_secret_and_may_itself_use_one() -> None:
    config = {"DB_PASSWORD": "from-config", "PW": "#{DB_PASSWORD}#-x"}
    assert resolved("postgresql://a:#{DB_PASSWORD}#@h/d", config) == "postgresql://a:from-config@h/d"
    assert (
        resolved("postgresql://a:#{PW}#@h/d", {"PW": "#{ODD}#"}) == "postgresql://a:p%40ss%2Fw%23rd%3Ax@h/d"
    )


def test_a_missing_secret_names_the_key_path_and_the_command() -> None:
    with pytest.raises(ManifestError) as err:
        resolved("postgresql://app:#{NOPE}#@db/app")
    assert "database.url: #{NOPE}# names no secret or configuration key of prod" in err.value.message
    assert "shipyard secrets set prod NOPE" in err.value.hint


def test_a_configuration_key_that_does_not_resolve_is_named() -> None:
    with pytest.raises(ManifestError) as err:
        resolved("postgresql://app:#{PW}#@db/app", {"PW": "#{MISSING}#"})
    assert "configuration key PW of prod, which does not resolve" in err.value.message
    assert "shipyard config show prod" in err.value.hint


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/app", "postgresql://app:**********@db:5432/app"),
        ("postgresql://app:#{DB_PASSWORD}#@db/app", "postgresql://app:**********@db/app"),
        ("postgresql://app:p%40ss%2Fw%23rd@db/app", "postgresql://app:**********@db/app"),
        ("postgresql://app@db/app", "postgresql://app@db/app"),
        ("postgresql://db/app", "postgresql://db/app"),
        ("postgres://db/app?user=a&password=s3cret", "postgres://db/app?user=a&password=**********"),
        ("postgresql://a:x@h1,a:y@h2/app", "postgresql://a:**********@h2/app"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert "s3cret" not in mask_url(url)


@pytest.mark.parametrize(
    ("url", "safe", "password"),
    [
        ("postgresql://app:s3cret@db:5432/app", "postgresql://app@db:5432/app", "s3cret"),
        ("postgresql://app:p%40ss%2Fw%23rd@db/app?sslmode=require", "postgresql://app@db/app?sslmode=require",
         "p@ss/w#rd"),
        ("postgresql://app@db/app", "postgresql://app@db/app", None),
        ("postgresql://db/app?password=s3cret&sslmode=disable", "postgresql://db/app?sslmode=disable",
         "s3cret"),
        ("postgresql://db/app?password=s3cret", "postgresql://db/app", "s3cret"),
    ],
)  # fmt: skip
def test_split_url(url: str, safe: str, password: str | None) -> None:
    assert split_url(url) == (safe, password)


def test_a_resolved_password_round_trips_through_split() -> None:
    assert split_url(resolved("postgresql://app:#{ODD}#@db/app"))[1] == SECRETS["ODD"]


def test_url_key_names_where_the_url_is_set() -> None:
    assert url_key(None, "prod") == "database.url"
    own = Database(engine="postgres", url="postgresql://db/x")
    assert url_key(own, "prod") == "environments.prod.database.url"
    assert url_key(Database(engine="postgres", managed=True), "prod") == "database.url"


def _manifest(database: dict[str, object], env_database: dict[str, object] | None = None) -> object:
    env: dict[str, object] = {"port": 8080}
    if env_database is not None:
        env["database"] = env_database
    doc = {
        "app": "notes",
        "source": ".",
        "processes": {"web": {"command": "x"}},
        "database": database,
        "environments": {"prod": env},
    }
    return doc


def test_continuous_with_an_external_server_is_a_manifest_error() -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(
            _manifest({"engine": "postgres", "url": "postgresql://db/x", "backups": {"continuous": True}})
        )
    assert "database" in err.value.message and "needs the WAL" in err.value.message


def test_continuous_at_the_top_and_a_url_in_the_environment_is_refused_at_load() -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(
            _manifest(
                {"engine": "postgres", "managed": True, "backups": {"continuous": True}},
                {"engine": "postgres", "managed": False, "url": "postgresql://db/x"},
            )
        )
    assert "environments.prod.database" in err.value.message and "needs the WAL" in err.value.message
