"""What each conversation said last: a few turns, kept in this process only, forgotten with age.

Follow-up questions ("What did he say?") are read with these turns. Nothing is written to
disk; a conversation keeps at most ``turns`` turns, each for at most ``max_age`` seconds, and
at most ``conversations`` conversations are remembered (the least recently used goes first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable

from retrieval.followup import Turn


class Memory:
    def __init__(
        self,
        turns: int = 3,
        max_age: float = 30 * 60.0,
        conversations: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.turns, self.max_age, self.conversations, self.clock = turns, max_age, conversations, clock
        self._kept: OrderedDict[Hashable, deque[tuple[float, Turn]]] = OrderedDict()
        self._lock = threading.Lock()

    def recall(self, key: Hashable) -> list[Turn]:
        """The conversation's turns still young enough, oldest first."""
        now = self.clock()
        with self._lock:
            kept = self._kept.get(key)
            if kept is None:
                return []
            while kept and now - kept[0][0] > self.max_age:
                kept.popleft()
            return [turn for _, turn in kept]

    def remember(self, key: Hashable, turn: Turn) -> None:
        with self._lock:
            kept = self._kept.setdefault(key, deque(maxlen=self.turns))
            kept.append((self.clock(), turn))
            self._kept.move_to_end(key)
            while len(self._kept) > self.conversations:
                self._kept.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._kept.pop(key, None)

    def __len__(self) -> int:
        return len(self._kept)
