"""The catalog keeps only recently used jobs: the daemon's memory must not grow with every job ever finished."""
from __future__ import annotations

from pathlib import Path

from arena.engines.local.catalog import Catalog
from arena.spec.job import JobSpec


def test_old_entries_are_dropped_and_decoded_again_on_use(tmp_path: Path) -> None:
    from arena.spec import job as jobspec

    class Rows:  # the part of Repo the catalog reads for a dropped spec
        def __init__(self) -> None:
            self.reads = 0

        def job(self, uid: str):  # type: ignore[no-untyped-def]
            self.reads += 1
            return type("Row", (), {"spec": jobspec.encode(JobSpec(kind="pytorchjob", name=uid))})()

    rows = Rows()
    catalog = Catalog(rows, keep=3)  # type: ignore[arg-type]
    for uid in "abcd":
        assert catalog.spec(uid).name == uid
    assert rows.reads == 4
    assert len(catalog._entries) == 3
    catalog.spec("d")  # kept: no read
    assert rows.reads == 4
    assert catalog.spec("a").name == "a"  # dropped first: decoded again
    assert rows.reads == 5
