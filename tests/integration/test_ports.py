"""The harness hands out each port once per worker, whichever way a test imports it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tests.integration.conftest as by_package
from tests.integration import ports

pytestmark = pytest.mark.integration

CONFTEST = Path(__file__).with_name("conftest.py").resolve()


def test_every_import_of_the_harness_shares_one_port_sequence() -> None:
    harnesses = [by_package] + [
        m
        for m in list(sys.modules.values())
        if Path(getattr(m, "__file__", None) or "/").resolve() == CONFTEST
    ]
    assert len({id(m) for m in harnesses}) >= 2  # pytest's `conftest` and `tests.integration.conftest`
    assert {m.free_port for m in harnesses} == {ports.free_port}


def test_ports_in_turn_are_distinct_and_in_this_workers_block() -> None:
    picked = [ports.free_port() for _ in range(50)]
    assert len(set(picked)) == 50
    low = min(picked) - (min(picked) - ports.PORTS_LOW) % ports.PORT_BLOCK
    assert all(low <= p < low + ports.PORT_BLOCK for p in picked)
