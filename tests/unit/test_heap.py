"""The daemon's C heap settings: real on glibc, no-ops elsewhere."""
from __future__ import annotations

import platform

import pytest

from arena.engines.local import heap

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt and malloc_trim")


@glibc
def test_arenas_are_capped_and_the_heap_can_be_trimmed() -> None:
    assert heap.limit_arenas(heap.ARENAS)
    blocks = [bytearray(1000) for _ in range(50_000)]
    del blocks[::2]  # free pages inside the heap, which only a trim hands back
    assert isinstance(heap.trim(), bool)  # 1 or 0 from malloc_trim: whether anything went back


def test_without_glibc_both_are_no_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_libc", lambda: None)
    assert heap.limit_arenas() is False
    assert heap.trim() is False
