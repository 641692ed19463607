"""Which refused API requests reach the audit log (``core/refusals.py``)."""

from __future__ import annotations

from shipyard.core.refusals import RefusalWindow, refusal_detail


def test_the_first_refusal_is_written_and_the_next_ones_of_the_minute_are_counted_into_the_next() -> None:
    window = RefusalWindow(window=60.0)
    assert window.admit("10.0.0.1", 0.0) == 0
    assert [window.admit("10.0.0.1", t) for t in (1.0, 30.0, 59.9)] == [None, None, None]
    assert window.admit("10.0.0.2", 5.0) == 0  # another address has its own count
    assert window.admit("10.0.0.1", 60.0) == 3  # written, standing for the three held back
    assert window.admit("10.0.0.1", 61.0) is None
    assert window.admit("10.0.0.1", 200.0) == 1


def test_the_addresses_remembered_are_bounded_oldest_first() -> None:
    window = RefusalWindow(window=60.0, keep=2)
    for n, source in enumerate(("a", "b", "c")):
        assert window.admit(source, float(n)) == 0
    assert window.admit("a", 3.0) == 0  # forgotten: written again at once
    assert window.admit("c", 3.0) is None  # remembered


def test_the_detail_says_how_many_more_an_entry_stands_for() -> None:
    assert refusal_detail("missing API token", 0) == "missing API token"
    assert refusal_detail("missing API token", 4) == (
        "missing API token (and 4 more refused from this address since its last entry)"
    )
