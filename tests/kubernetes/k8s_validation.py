"""The shared manifest validator (../shared/tools/validate_manifests.py), loaded in-process.

Kept out of conftest.py so test modules can import it by a unique module name.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from arena.engines.kubernetes.render import to_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
VALIDATOR_PATH = SHARED / "tools" / "validate_manifests.py"


@dataclass
class Validator:
    """The shared validator's checks, run in-process on what `--dry-run -o yaml` would print."""

    module: ModuleType
    schemas: Any
    has_core_schemas: bool

    def lines(self, manifests: list[dict[str, Any]]) -> list[str]:
        """One `STATUS Kind/name[: errors]` line per object, like the validator's CLI."""
        out = []
        # Round-trip through our YAML and the validator's loader: this is the dry-run output.
        for obj in yaml.load_all(to_yaml(manifests), Loader=self.module.Loader):
            status, errs = self.module.check(obj, self.schemas)
            meta = obj.get("metadata") or {}
            label = f"{obj.get('kind')}/{meta.get('name') or meta.get('generateName')}"
            out.append(f"{status} {label}" + (f": {'; '.join(errs)}" if errs else ""))
        return out

    def assert_valid(self, manifests: list[dict[str, Any]]) -> None:
        """Every object validates (no INVALID, nothing pruned); only built-in kinds may be skipped,
        and only when the kubernetes-validate schemas are not installed."""
        lines = self.lines(manifests)
        bad = [line for line in lines if not line.startswith("OK ")]
        if not self.has_core_schemas:
            bad = [line for line in bad if not line.startswith("SKIP ")]
        assert not bad, "\n".join(bad)


def load() -> Validator | None:
    """The validator with its schemas, or None when ../shared is absent."""
    if not VALIDATOR_PATH.is_file():
        return None
    spec = importlib.util.spec_from_file_location("shared_validate_manifests", VALIDATOR_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    core = module.find_core_dir(None)
    return Validator(module, module.Schemas(module.CRD_DIR, core), core is not None)
