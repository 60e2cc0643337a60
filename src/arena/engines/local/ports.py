"""Free loopback ports for replicas' rendezvous endpoints and TensorBoard.

Ports come from 20000-29999, as upstream Arena's: below Linux's ephemeral range (32768-60999), so an
outgoing connection cannot take a port between its allocation and the replica binding it. The last few
hundred handed out are remembered, so two jobs bound in the same cycle never get the same one.
"""
from __future__ import annotations

import random
import socket
from collections import deque
from collections.abc import Iterable

from arena.engines.local.plan import LOOPBACK

PORT_RANGE = (20000, 30000)


class Ports:
    def __init__(self, host: str = LOOPBACK, rng: random.Random | None = None) -> None:
        self.host = host
        self.rng = rng or random.Random()
        self.recent: deque[int] = deque(maxlen=512)

    def allocate(self, taken: Iterable[int] = ()) -> int:
        """A port nobody listens on now, other than `taken` and the ones recently handed out."""
        avoid = set(taken) | set(self.recent)
        for _ in range(200):
            port = self.rng.randrange(*PORT_RANGE)
            if port in avoid or not self._free(port):
                continue
            self.recent.append(port)
            return port
        raise RuntimeError(f"no free port in {PORT_RANGE[0]}-{PORT_RANGE[1]} on the loopback interface")

    def _free(self, port: int) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((self.host, port))
            except OSError:
                return False
        return True
