""".env parsing as python-dotenv and compose read it, and rendering that reads back exactly."""

from __future__ import annotations

import random

import pytest

from shipyard.core.dotenv import parse_dotenv, quote_value, render_dotenv
from shipyard.errors import VaultError

PARSED = [
    ("A=1", {"A": "1"}),
    ("A=1\nB=2\n", {"A": "1", "B": "2"}),
    ("export A=1", {"A": "1"}),
    ("export\tA=1", {"A": "1"}),
    ("export=1", {"export": "1"}),
    ("  A = spaced  ", {"A": "spaced"}),
    ("A=", {"A": ""}),
    ("A=  ", {"A": ""}),
    ("_a1=x", {"_a1": "x"}),
    ("# comment\n\n   # indented comment\nA=1\n\n", {"A": "1"}),
    ("A=value # comment", {"A": "value"}),
    ("A=value\t# comment", {"A": "value"}),
    ("A=val#ue", {"A": "val#ue"}),
    ("A=#value", {"A": "#value"}),
    ("A= # only a comment", {"A": ""}),
    ("A=a=b=c", {"A": "a=b=c"}),
    ("A=inner  spaces kept", {"A": "inner  spaces kept"}),
    ("A=${OTHER}", {"A": "${OTHER}"}),
    ("A='single # not a comment'", {"A": "single # not a comment"}),
    ("A='lit\\n\\\"'", {"A": 'lit\\n\\"'}),
    ("A='  padded  '", {"A": "  padded  "}),
    ("A='multi\nline'", {"A": "multi\nline"}),
    ("A='it''s'", None),
    ('A="tab\\there"', {"A": "tab\there"}),
    ('A="new\\nline"', {"A": "new\nline"}),
    ('A="quote \\" and \\\\ and \\$HOME and \\\'"', {"A": "quote \" and \\ and $HOME and '"}),
    ('A="unknown \\q escape"', {"A": "unknown \\q escape"}),
    ('A="multi\nline # still value"\nB=2', {"A": "multi\nline # still value", "B": "2"}),
    ('A="x" # trailing comment', {"A": "x"}),
    ("A='x'   ", {"A": "x"}),
    ('A=""', {"A": ""}),
    ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ('A="crlf\r\ninside"', {"A": "crlf\ninside"}),
    ("\ufeffA=1", {"A": "1"}),
    ("A=1\nA=2", {"A": "2"}),
    ("A=ünïcødé ✓", {"A": "ünïcødé ✓"}),
]


@pytest.mark.parametrize(("text", "expected"), [c for c in PARSED if c[1] is not None])
def test_parse(text: str, expected: dict[str, str]) -> None:
    assert parse_dotenv(text) == expected


def test_a_repeated_key_keeps_its_last_value_in_its_last_place() -> None:
    assert list(parse_dotenv("A=1\nB=2\nA=3")) == ["B", "A"]


ERRORS = [
    ("A", 1, "expected KEY=value"),
    ("A=1\nnot an assignment", 2, "expected KEY=value"),
    ("=value", 1, "invalid key name"),
    ("1A=x", 1, "invalid key name"),
    ("my-key=x", 1, "invalid key name"),
    ("A B=x", 1, "expected KEY=value"),
    ("A='open", 1, "the value of A opens a single quote that is never closed"),
    ('\n\nA="open\nstill open', 3, "the value of A opens a double quote that is never closed"),
    ('A="ends in backslash\\', 1, "double quote that is never closed"),
    ("A='it''s'", 1, "unexpected text after the closing quote of A"),
    ('A="x"y', 1, "unexpected text after the closing quote of A"),
    ('A="two\nlines" junk', 2, "unexpected text after the closing quote of A"),
]


@pytest.mark.parametrize(("text", "line", "problem"), ERRORS)
def test_errors_name_the_file_the_line_and_the_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(VaultError) as caught:
        parse_dotenv(text, "prod.env")
    assert caught.value.message.startswith(f"prod.env:{line}: ")
    assert problem in caught.value.message
    assert caught.value.status == 422 and caught.value.hint


def test_errors_never_echo_the_line() -> None:
    secret_line = "sk_live_0123456789/abcdef+ghij=="
    with pytest.raises(VaultError) as caught:
        parse_dotenv(f"A=1\n{secret_line}\n", ".env")
    assert "sk_live" not in caught.value.message + caught.value.hint


TRICKY = [
    "",
    " ",
    "plain",
    "with space",
    " leading",
    "trailing ",
    "#hash",
    "a #b",
    "a#b",
    "=",
    "a=b",
    "'",
    '"',
    "it's",
    'say "hi"',
    "both ' and \"",
    "back\\slash",
    "\\n literal",
    "new\nline",
    "\n",
    "\r",
    "cr\r\nlf",
    "tab\there",
    "$HOME ${X} $",
    "ünïcødé ✓ 🚢",
    "export A=1",
    "'quoted'",
    '"quoted"',
    "ends with backslash\\",
    "\\",
    "\\'",
    "\x00nul",
    "line\u2028separator",
    "---BEGIN KEY---\nMIIB\n---END KEY---\n",
]


@pytest.mark.parametrize("value", TRICKY)
def test_render_then_parse_gives_back_every_value(value: str) -> None:
    values = {"KEY": value, "OTHER": "after"}
    assert parse_dotenv(render_dotenv(values)) == values


def test_render_then_parse_round_trips_random_strings() -> None:
    alphabet = [*"ab #='\"\\$\n\r\t{}é✓ ", "\u2028", "\x00", "export "]
    rng = random.Random(4)
    for _ in range(2000):
        values = {
            f"K{i}": "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for i in range(3)
        }
        assert parse_dotenv(render_dotenv(values)) == values, values


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("simple-value_1.2:3@host/x", "simple-value_1.2:3@host/x"),
        ("", "''"),
        ("with space", "'with space'"),
        ("$HOME", "'$HOME'"),
        ("it's", '"it\'s"'),
        ("it's $HOME\n", '"it\'s \\$HOME\\n"'),
        ("cr\r", '"cr\\r"'),
    ],
)
def test_quoting_prefers_bare_then_single_quotes(value: str, written: str) -> None:
    assert quote_value(value) == written


def test_render_writes_one_line_per_key_in_order() -> None:
    assert render_dotenv({"B": "2", "A": "x y"}) == "B=2\nA='x y'\n"
    assert render_dotenv({}) == ""


@pytest.mark.parametrize("key", ["", "1A", "my-key", "A B", "é"])
def test_render_refuses_names_that_would_not_read_back(key: str) -> None:
    with pytest.raises(VaultError, match="cannot write"):
        render_dotenv({key: "x"})
