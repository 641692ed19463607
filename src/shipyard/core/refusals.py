"""Which refused API requests (no token, an unknown or revoked one) reach the audit log. Pure.

Every refusal should be visible, like Vault's audit of every failed request, but one client
sending thousands of bad tokens must not make the control plane write thousands of durable
entries (each is a synced write of a hash-chained log). So per client address the first refusal
is written at once, later ones within ``window`` seconds are counted, and the next entry written
for that address carries the count of the ones it stands for. At most ``keep`` addresses are
remembered (the oldest forgotten first), so the memory a flood of addresses can take is bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

WINDOW_S = 60.0
KEEP = 10_000


@dataclass
class _Seen:
    written_at: float
    held: int = 0  # refusals since the last written entry, not written


class RefusalWindow:
    def __init__(self, window: float = WINDOW_S, keep: int = KEEP) -> None:
        self.window = window
        self.keep = keep
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def admit(self, source: str, now: float) -> int | None:
        """None: count this refusal and write nothing; else write an entry now, standing for
        this refusal and the returned number of earlier ones from ``source`` not written."""
        seen = self._seen.get(source)
        if seen is not None and now - seen.written_at < self.window:
            seen.held += 1
            return None
        held = seen.held if seen is not None else 0
        self._seen[source] = _Seen(now)
        self._seen.move_to_end(source)
        while len(self._seen) > self.keep:
            self._seen.popitem(last=False)
        return held


def refusal_detail(reason: str, held: int) -> str:
    """An entry's detail: why the request was refused, and how many more it stands for."""
    return reason + (f" (and {held} more refused from this address since its last entry)" if held else "")
