"""Importing SOPS files: real files written by sops, every way of altering them, the rules.

Compatibility is proven on real sops output (``tests/fixtures/sops``, see its README). Cases no
real fixture covers (nesting, typed scalars, the other encryption rules, refusals) use files
built by ``Sops`` below, which writes exactly what sops' ``Tree.Encrypt`` writes: a random
32-byte data key, armored-age-encrypted for a recipient; each value
``ENC[AES256_GCM,data:<b64>,iv:<b64 of 32 random bytes>,tag:<b64>,type:<kind>]`` with the key
path joined by ``:`` plus ``:`` as associated data; the MAC is the uppercase hex SHA-512 of the
values' text in order, sealed the same way with ``lastmodified`` as associated data. The text
each value contributes to the MAC is written out by hand in each test, from sops' Go rules
(``ToBytes``), not computed by the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shipyard.drivers.trust.sops import _go_float, decrypt_sops, import_sops_file, read_age_identities
from shipyard.drivers.trust.sops_age import AGE_KEY_ENV, AGE_KEY_FILE_ENV, AgeIdentity
from shipyard.errors import VaultError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sops"
RECIPIENT = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"
OTHER_RECIPIENT = "age1henwn645drkd3fa34t27t2w2x0nsgw3w4h62gmg5x5xflyjpy38s5cncph"
STAMP = "2024-01-02T03:04:05Z"


@pytest.fixture(autouse=True)
def no_ambient_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (AGE_KEY_ENV, AGE_KEY_FILE_ENV, "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def identities() -> list[AgeIdentity]:
    return read_age_identities(FIXTURES / "age.key")


# real files written by sops -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("secrets.enc.env", {"key": "value"}),
        ("file.enc.json", {"data": "value"}),
        (
            "secret.enc.yaml",
            {"apiVersion": "v1", "kind": "Secret", "METADATA_NAME": "age", "STRINGDATA_KEY": "value"},
        ),
    ],
)
def test_real_sops_files_decrypt(identities: list[AgeIdentity], name: str, expected: dict[str, str]) -> None:
    assert import_sops_file(FIXTURES / name, identities) == expected


def test_the_identity_is_matched_to_the_recipient(identities: list[AgeIdentity]) -> None:
    assert [i.recipient for i in identities] == [RECIPIENT]
    assert "AGE-SECRET-KEY" not in repr(identities)


def test_a_file_changed_after_encryption_is_refused(identities: list[AgeIdentity]) -> None:
    with pytest.raises(VaultError) as caught:
        import_sops_file(FIXTURES / "secret.tampered.enc.yaml", identities)
    assert "the MAC does not match" in caught.value.message
    assert "secret.tampered.enc.yaml" in caught.value.message
    assert "value" not in caught.value.message.split(":", 1)[1].replace("MAC", "")


def flip_data(text: str) -> str:
    marker = "AES256_GCM,data:"
    at = text.index(marker) + len(marker)
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def corrupt_age(text: str) -> str:
    at = text.index("YWdlLWVuY3J5cHRpb24ub3JnL3Yx")
    return text[:at] + text[at : at + 80].replace("Q", "R").replace("q", "Q") + text[at + 80 :]


TAMPERED: list[tuple[str, Callable[[str], str], str]] = [
    ("secret.enc.yaml", flip_data, "stringData.key does not decrypt"),
    (
        "secret.enc.yaml",
        lambda t: t.replace("stringData:\n  key:", "stringData:\n  other:"),
        "stringData.other",
    ),
    ("secret.enc.yaml", lambda t: t.replace("kind: Secret", "kind: ConfigMap"), "the MAC does not match"),
    ("secret.enc.yaml", lambda t: t.replace("T13:33:42Z", "T13:33:43Z"), "the MAC does not decrypt"),
    ("secret.enc.yaml", lambda t: t.replace("  mac: ENC", "  mac_: ENC"), "has no MAC"),
    ("secret.enc.yaml", lambda t: t.replace("  name: age\n", "  name: age\n  labels: {a: b}\n"), "MAC"),
    ("secret.enc.yaml", corrupt_age, "does not decrypt"),
    ("secrets.enc.env", lambda t: t.replace("key=ENC", "other=ENC"), "other does not decrypt"),
    ("secrets.enc.env", lambda t: "extra_unencrypted=1\n" + t, "the MAC does not match"),
    ("secrets.enc.env", lambda t: t.split("\n", 1)[1] + "key=value\n", "key is not a sops-encrypted value"),
    ("secrets.enc.env", lambda t: t.split("\n", 1)[1], "the MAC does not match"),
    ("file.enc.json", lambda t: t.replace('"data"', '"data2"'), "data2 does not decrypt"),
    (
        "file.enc.json",
        lambda t: t.replace('"version": "3.9.0"', '"version": "3.9.0", "mac_only_encrypted": true'),
        "MAC",
    ),
]


@pytest.mark.parametrize(("name", "change", "problem"), TAMPERED)
def test_any_alteration_of_a_real_file_is_refused(
    identities: list[AgeIdentity], tmp_path: Path, name: str, change: Callable[[str], str], problem: str
) -> None:
    original = (FIXTURES / name).read_text()
    altered = change(original)
    assert altered != original
    path = tmp_path / name
    path.write_text(altered)
    with pytest.raises(VaultError, match=problem):
        import_sops_file(path, identities)


def test_a_file_for_another_recipient_names_both_sides(identities: list[AgeIdentity]) -> None:
    with pytest.raises(VaultError) as caught:
        import_sops_file(FIXTURES / "other-recipient.enc.yaml", identities)
    message = caught.value.message
    assert f"encrypted for {OTHER_RECIPIENT}" in message and f"yours are {RECIPIENT}" in message
    assert "sops updatekeys" in caught.value.hint


def test_a_pgp_only_file_is_refused(identities: list[AgeIdentity]) -> None:
    with pytest.raises(VaultError, match="not encrypted for any age recipient"):
        import_sops_file(FIXTURES / "pgp-only.enc.yaml", identities)


def test_the_format_comes_from_the_name_or_the_argument(
    identities: list[AgeIdentity], tmp_path: Path
) -> None:
    renamed = tmp_path / "secrets.txt"
    shutil.copy(FIXTURES / "secrets.enc.env", renamed)
    with pytest.raises(VaultError, match="cannot tell the format"):
        import_sops_file(renamed, identities)
    assert import_sops_file(renamed, identities, fmt="dotenv") == {"key": "value"}
    dotfile = tmp_path / ".env"
    shutil.copy(FIXTURES / "secrets.enc.env", dotfile)
    assert import_sops_file(dotfile, identities) == {"key": "value"}
    with pytest.raises(VaultError, match="unknown sops file format 'ini'"):
        import_sops_file(renamed, identities, fmt="ini")


def test_a_plain_file_is_not_a_sops_file(identities: list[AgeIdentity], tmp_path: Path) -> None:
    for name, text in [("a.yaml", "A: 1\n"), ("a.json", '{"A": "1"}'), ("a.env", "A=1\n")]:
        (tmp_path / name).write_text(text)
        with pytest.raises(VaultError, match="not encrypted with sops"):
            import_sops_file(tmp_path / name, identities)


# where the age identities come from -----------------------------------------------------------


def test_identities_from_sops_age_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AGE_KEY_ENV, (FIXTURES / "age.key").read_text())
    assert [i.recipient for i in read_age_identities()] == [RECIPIENT]


def test_identities_from_sops_age_key_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AGE_KEY_FILE_ENV, str(FIXTURES / "other-recipient.key"))
    assert [i.recipient for i in read_age_identities()] == [OTHER_RECIPIENT]


@pytest.mark.parametrize("config", ["XDG_CONFIG_HOME", "HOME"])
def test_identities_from_the_default_sops_location(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: str
) -> None:
    base = tmp_path / "xdg" if config == "XDG_CONFIG_HOME" else tmp_path / "home" / ".config"
    if config == "XDG_CONFIG_HOME":
        monkeypatch.setenv("XDG_CONFIG_HOME", str(base))
    (base / "sops" / "age").mkdir(parents=True)
    shutil.copy(FIXTURES / "age.key", base / "sops" / "age" / "keys.txt")
    assert [i.recipient for i in read_age_identities()] == [RECIPIENT]


def test_all_sources_are_combined_as_sops_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AGE_KEY_ENV, (FIXTURES / "age.key").read_text())
    monkeypatch.setenv(AGE_KEY_FILE_ENV, str(FIXTURES / "other-recipient.key"))
    identities = read_age_identities()
    assert {i.recipient for i in identities} == {RECIPIENT, OTHER_RECIPIENT}
    assert (
        import_sops_file(FIXTURES / "other-recipient.enc.yaml", identities)["STRINGDATA_KEY"]
        == "global-value"
    )


def test_an_explicit_key_file_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AGE_KEY_FILE_ENV, str(FIXTURES / "other-recipient.key"))
    assert [i.recipient for i in read_age_identities(FIXTURES / "age.key")] == [RECIPIENT]


def test_no_identity_anywhere_says_where_it_looked() -> None:
    with pytest.raises(
        VaultError, match=f"no age identity found \\(looked in: {AGE_KEY_ENV}, {AGE_KEY_FILE_ENV}\\)"
    ):
        read_age_identities()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("AGE-SECRET-KEY-1NOTBECH32", "malformed age identity"),
        ("AGE-PLUGIN-YUBIKEY-1QQQQ", "plugin and SSH keys are not supported"),
        ("ssh-ed25519 AAAA", "not an age X25519 identity"),
    ],
)
def test_a_bad_identity_line_is_named_by_place_not_content(tmp_path: Path, line: str, problem: str) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("# created: today\n\n" + line + "\n")
    with pytest.raises(VaultError) as caught:
        read_age_identities(keys)
    assert caught.value.message.startswith(f"{keys}:3: ") and problem in caught.value.message
    assert line not in caught.value.message


# files built as sops builds them --------------------------------------------------------------


class Sops:
    """Writes sops documents (see the module docstring); the MAC text is given by each test."""

    def __init__(self) -> None:
        self.key = os.urandom(32)
        self.identity = pyrage.x25519.Identity.generate()
        self.recipient = str(self.identity.to_public())

    def identities(self) -> list[AgeIdentity]:
        return [AgeIdentity(self.recipient, self.identity)]

    def seal(self, plain: str, aad: str, kind: str = "str") -> str:
        iv = os.urandom(32)
        out = AESGCM(self.key).encrypt(iv, plain.encode(), aad.encode())
        parts = [base64.b64encode(p).decode() for p in (out[:-16], iv, out[-16:])]
        return f"ENC[AES256_GCM,data:{parts[0]},iv:{parts[1]},tag:{parts[2]},type:{kind}]"

    def metadata(self, mac_text: list[str], stamp: str = STAMP, **extra: Any) -> dict[str, Any]:
        prefix = hashlib.sha256(b"sops").digest() if extra.get("mac_only_encrypted") else b""
        mac = hashlib.sha512(prefix + "".join(mac_text).encode()).hexdigest().upper()
        enc = pyrage.encrypt(self.key, [self.identity.to_public()], armored=True).decode()
        return {
            "age": [{"recipient": self.recipient, "enc": enc}],
            "lastmodified": stamp,
            "mac": self.seal(mac, stamp.replace(".5", "")),
            "version": "3.9.0",
            **extra,
        }

    def json(self, data: dict[str, Any], mac_text: list[str], **extra: Any) -> str:
        return json.dumps({**data, "sops": self.metadata(mac_text, **extra)})


@pytest.fixture
def sops() -> Sops:
    return Sops()


def test_nested_mappings_are_flattened_upper_case_and_top_level_names_kept(sops: Sops) -> None:
    data = {
        "db": {"password": sops.seal("s3cret", "db:password:"), "host": sops.seal("db.local", "db:host:")},
        "api_key": sops.seal("k", "api_key:"),
        "port": sops.seal("5432", "port:", "float"),
        "debug_unencrypted": True,
    }
    text = sops.json(data, ["s3cret", "db.local", "k", "5432", "True"])
    assert decrypt_sops(text, "json", sops.identities(), "s.json") == {
        "DB_PASSWORD": "s3cret",
        "DB_HOST": "db.local",
        "api_key": "k",
        "port": "5432",
        "debug_unencrypted": "true",
    }


def test_json_numbers_are_float64_as_in_go(sops: Sops) -> None:
    data = {"big_unencrypted": 12345678901234567890, "ratio_unencrypted": 1.50, "n_unencrypted": 7}
    # float64 of the big number is 12345678901234567168; its shortest round-trip digits are
    # 1.2345678901234567e19, which FormatFloat(v, 'f', -1, 64) writes in full
    text = sops.json(data, ["12345678901234567000", "1.5", "7"])
    assert decrypt_sops(text, "json", sops.identities(), "s.json") == {
        "big_unencrypted": "12345678901234567000",
        "ratio_unencrypted": "1.5",
        "n_unencrypted": "7",
    }


YAML_SCALARS = [  # plain YAML scalar, the text Go's ToBytes hashes, the imported value
    ("0x1F", "31", "31"),
    ("0o17", "15", "15"),
    ("0777", "511", "511"),
    ("1_000", "1000", "1000"),
    ("-42", "-42", "-42"),
    ("1.50", "1.5", "1.5"),
    ("1e3", "1000", "1000"),
    ("yes", "yes", "yes"),
    ("on", "on", "on"),
    ("True", "True", "true"),
    ("false", "False", "false"),
    ("2024-01-02", "2024-01-02", "2024-01-02"),
    ('"0x1F"', "0x1F", "0x1F"),
    ("'true'", "true", "true"),
    ("v1.2", "v1.2", "v1.2"),
]


@pytest.mark.parametrize(("scalar", "hashed", "imported"), YAML_SCALARS)
def test_yaml_scalars_are_typed_as_sops_types_them(
    sops: Sops, scalar: str, hashed: str, imported: str
) -> None:
    text = (
        f"value_unencrypted: {scalar}\n"
        f"secret: {sops.seal('x', 'secret:')}\n"
        f"sops: {json.dumps(sops.metadata([hashed, 'x']))}\n"
    )
    assert decrypt_sops(text, "yaml", sops.identities(), "s.yaml") == {
        "value_unencrypted": imported,
        "secret": "x",
    }


@pytest.mark.parametrize(("value", "text"), [("7", "7"), ("-1", "-1"), ("True", "true"), ("1.25", "1.25")])
def test_typed_encrypted_values_decode(sops: Sops, value: str, text: str) -> None:
    kind = {"7": "int", "-1": "int", "True": "bool", "1.25": "float"}[value]
    data = {"v": sops.seal(value, "v:", kind)}
    assert decrypt_sops(sops.json(data, [value]), "json", sops.identities(), "s.json") == {"v": text}


def test_an_unknown_value_type_is_refused(sops: Sops) -> None:
    data = {"v": sops.seal("x", "v:", "complex")}
    with pytest.raises(VaultError, match="type 'complex'"):
        decrypt_sops(sops.json(data, ["x"]), "json", sops.identities(), "s.json")


def test_mac_only_encrypted_hashes_only_the_encrypted_values_after_the_prefix(sops: Sops) -> None:
    data = {"public_unencrypted": "p", "secret": sops.seal("s", "secret:")}
    text = sops.json(data, ["s"], mac_only_encrypted=True)
    assert decrypt_sops(text, "json", sops.identities(), "s.json") == {
        "public_unencrypted": "p",
        "secret": "s",
    }
    plain_mac = json.loads(text)
    plain_mac["sops"]["mac_only_encrypted"] = False
    with pytest.raises(VaultError, match="the MAC does not match"):
        decrypt_sops(json.dumps(plain_mac), "json", sops.identities(), "s.json")


@pytest.mark.parametrize(
    ("rule", "pattern", "encrypted", "plain"),
    [
        ("encrypted_suffix", "_secret", "db_secret", "db_host"),
        ("unencrypted_regex", "^pub", "token", "public_url"),
        ("encrypted_regex", "^(password|token)$", "token", "url"),
        ("unencrypted_suffix", "_plain", "token", "url_plain"),
    ],
)
def test_each_encryption_rule_decides_which_values_are_encrypted(
    sops: Sops, rule: str, pattern: str, encrypted: str, plain: str
) -> None:
    data = {encrypted: sops.seal("hidden", f"{encrypted}:"), plain: "shown"}
    text = sops.json(data, ["hidden", "shown"], **{rule: pattern})
    assert decrypt_sops(text, "json", sops.identities(), "s.json") == {encrypted: "hidden", plain: "shown"}


def test_a_value_the_rule_says_is_encrypted_must_be(sops: Sops) -> None:
    text = sops.json({"token": "plain"}, ["plain"], encrypted_regex="^token$")
    with pytest.raises(VaultError, match="token is not a sops-encrypted value"):
        decrypt_sops(text, "json", sops.identities(), "s.json")


def test_the_order_of_values_is_covered_by_the_mac(sops: Sops) -> None:
    data = {"a": sops.seal("1", "a:"), "b": sops.seal("2", "b:")}
    assert decrypt_sops(sops.json(data, ["1", "2"]), "json", sops.identities(), "s.json") == {
        "a": "1",
        "b": "2",
    }
    swapped = {"b": data["b"], "a": data["a"]}
    with pytest.raises(VaultError, match="the MAC does not match"):
        decrypt_sops(sops.json(swapped, ["1", "2"]), "json", sops.identities(), "s.json")


def test_list_items_are_decrypted_with_their_lists_path(sops: Sops) -> None:
    data = {"items": [sops.seal("a", "items:"), sops.seal("b", "items:")]}
    with pytest.raises(VaultError, match="items is a list"):
        decrypt_sops(sops.json(data, ["a", "b"]), "json", sops.identities(), "s.json")


def test_lastmodified_is_read_back_as_go_formats_it(sops: Sops) -> None:
    text = sops.json({"a": sops.seal("1", "a:")}, ["1"], stamp="2024-01-02T03:04:05.5Z")
    assert decrypt_sops(text, "json", sops.identities(), "s.json") == {"a": "1"}


def test_dotenv_escapes_and_empty_values(sops: Sops) -> None:
    meta = sops.metadata(["line1\nline2", "", "x"])
    lines = [
        "note_unencrypted=line1\\nline2",
        "# a comment line",
        "EMPTY=",
        f"TOKEN={sops.seal('x', 'TOKEN:')}",
        f"sops_age__list_0__map_recipient={sops.recipient}",
        "sops_age__list_0__map_enc=" + meta["age"][0]["enc"].replace("\n", "\\n"),
        f"sops_lastmodified={meta['lastmodified']}",
        f"sops_mac={meta['mac']}",
        "sops_version=3.9.0",
    ]
    text = "\n".join(lines) + "\n"
    expected = {"note_unencrypted": "line1\nline2", "EMPTY": "", "TOKEN": "x"}
    assert decrypt_sops(text, "dotenv", sops.identities(), ".env") == expected


def test_a_single_key_group_is_read(sops: Sops) -> None:
    meta = sops.metadata(["1"])
    meta["key_groups"] = [{"age": meta.pop("age")}]
    text = json.dumps({"a": sops.seal("1", "a:"), "sops": meta})
    assert decrypt_sops(text, "json", sops.identities(), "s.json") == {"a": "1"}


REFUSED: list[tuple[dict[str, Any], list[str], dict[str, Any], str]] = [
    ({"l_unencrypted": ["a", "b"]}, ["a", "b"], {}, "l_unencrypted is a list"),
    ({"n_unencrypted": None}, [], {}, "n_unencrypted has no value"),
    ({"my-key_unencrypted": "x"}, ["x"], {}, "cannot be imported as 'my-key_unencrypted'"),
    ({"DB_HOST": "a", "db": {"host": "b"}}, ["a", "b"], {"encrypted_regex": "^none$"}, "both be.* DB_HOST$"),
    ({"a_unencrypted": "x"}, ["x"], {"unencrypted_comment_regex": "plain"}, "unencrypted_comment_regex"),
    ({"a_unencrypted": "x"}, ["x"], {"encrypted_regex": "a", "encrypted_suffix": "b"}, "more than one of"),
    ({"a_unencrypted": "x"}, ["x"], {"key_groups": [{}, {}]}, "2 key groups \\(Shamir\\)"),
    ({"a_unencrypted": "x"}, ["x"], {"lastmodified": "yesterday"}, "not an RFC 3339 time"),
]


@pytest.mark.parametrize(("data", "mac_text", "extra", "problem"), REFUSED)
def test_what_cannot_be_imported_is_refused_clearly(
    sops: Sops, data: dict[str, Any], mac_text: list[str], extra: dict[str, Any], problem: str
) -> None:
    meta = {**sops.metadata(mac_text), **extra}
    text = json.dumps({**data, "sops": meta})
    with pytest.raises(VaultError, match=problem):
        decrypt_sops(text, "json", sops.identities(), "s.json")


def test_invalid_yaml_is_located_without_quoting_the_file(sops: Sops) -> None:
    with pytest.raises(VaultError, match=r"^s\.yaml:2: not valid YAML") as caught:
        decrypt_sops("a: 1\npassword: hunter2: x\n", "yaml", sops.identities(), "s.yaml")
    assert "hunter2" not in caught.value.message


def test_alias_bombs_are_refused(sops: Sops) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(VaultError, match="too large or too deep"):
        decrypt_sops("\n".join(lines) + "\n", "yaml", sops.identities(), "s.yaml")


@pytest.mark.parametrize(
    "line",
    ["sops_age__list_99999999__map_enc=x", "sops_age__list_x__map_enc=x", "sops_age=1\nsops_age__map_enc=x"],
)
def test_malformed_dotenv_metadata_is_refused(sops: Sops, line: str) -> None:
    with pytest.raises(VaultError, match="do not form sops metadata"):
        decrypt_sops(f"A=1\n{line}\n", "dotenv", sops.identities(), ".env")


def test_multi_document_yaml_is_refused(sops: Sops) -> None:
    with pytest.raises(VaultError, match="holds 2 YAML documents"):
        decrypt_sops("a: 1\n---\nb: 2\n", "yaml", sops.identities(), "s.yaml")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (-0.0, "-0"),
        (1e21, "1000000000000000000000"),
        (1e-7, "0.0000001"),
        (123456789.125, "123456789.125"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_floats_are_written_as_go_formatfloat_f_minus_one(value: float, text: str) -> None:
    assert _go_float(value) == text
