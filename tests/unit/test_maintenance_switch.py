"""The maintenance switch (``engine/delivery/maintenance.py``) on a real state store and the fake
proxy: what it stores and syncs, bad input refused before anything changes, and the page around a
migration (off after a failure, a page turned on by hand left on)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.fakes import FakeProber
from tests.unit.test_engine_fakes import fakes, make_ctx

from shipyard.engine.delivery.maintenance import MaintenanceSwitch
from shipyard.errors import InputError, NotFoundError


def page_of(switch: MaintenanceSwitch) -> object:
    _, _, proxy = fakes(switch.ctx)
    backend = proxy.layouts[-1].backend("dev")
    assert backend is not None
    return backend.maintenance


def test_on_stores_the_page_and_syncs_it_off_removes_it(tmp_path: Path) -> None:
    switch = MaintenanceSwitch(make_ctx(tmp_path, FakeProber()))
    state = switch.on("dev", "ana", "Back at 14:00", ["192.168.1.7", "10.0.0.0/8"])
    assert state["on"] and state["allow"] == ["192.168.1.7/32", "10.0.0.0/8"] and state["by"] == "ana"
    page = page_of(switch)
    assert page is not None and getattr(page, "message", "") == "Back at 14:00"
    assert not switch.off("dev")["on"]
    assert page_of(switch) is None


@pytest.mark.parametrize(
    ("message", "allow", "text"),
    [
        (None, ["10.0.0.1/8"], "did you mean 10.0.0.0/8"),
        ("two\nlines", [], "one line"),
        ("", [], "printable text"),
    ],
)
def test_bad_input_is_refused_before_anything_changes(
    tmp_path: Path, message: str | None, allow: list[str], text: str
) -> None:
    switch = MaintenanceSwitch(make_ctx(tmp_path, FakeProber()))
    with pytest.raises(InputError) as info:
        switch.on("dev", "ana", message, allow)
    assert text in f"{info.value.message} {info.value.hint}"
    assert switch.ctx.store.maintenance.all() == {}
    with pytest.raises(NotFoundError):
        switch.on("nope", "ana")


def test_the_page_around_a_migration_goes_off_after_a_failure(tmp_path: Path) -> None:
    switch = MaintenanceSwitch(make_ctx(tmp_path, FakeProber()))
    with pytest.raises(RuntimeError), switch.during("dev", "migrate up of r2"):
        assert switch.describe("dev")["by"] == "migrate up of r2"
        raise RuntimeError("the migration failed")
    assert not switch.describe("dev")["on"]


def test_a_page_turned_on_by_hand_stays_on_after_a_migration(tmp_path: Path) -> None:
    switch = MaintenanceSwitch(make_ctx(tmp_path, FakeProber()))
    switch.on("dev", "ana", "Moving house")
    with switch.during("dev", "migrate up of r2"):
        pass
    assert switch.describe("dev")["message"] == "Moving house"
