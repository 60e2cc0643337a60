"""`--dry-run -o yaml|json`: exactly the manifests apply would send, in the same order."""
from __future__ import annotations

from functools import cache
from typing import Any

# PyYAML and json are imported on first use: `--dry-run -o json` need not pay for PyYAML.


@cache
def _dumper() -> type:
    import yaml

    class Dumper(yaml.SafeDumper):
        """Block YAML without anchors: a label map shared by two objects is written out twice."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    def represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        # Multi-line commands read better as literal blocks.
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, represent_str)
    return Dumper


def to_yaml(manifests: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream, one document per object, as `kubectl apply -f` reads it."""
    import yaml

    return yaml.dump_all(manifests, Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                         explicit_start=True, allow_unicode=True, width=1000)


def to_list(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The objects as one `v1 List`, the shape `kubectl get -o json` prints for several objects."""
    return {"apiVersion": "v1", "kind": "List", "items": list(manifests)}


def to_json(manifests: list[dict[str, Any]], indent: int | None = 2) -> str:
    import json

    return json.dumps(to_list(manifests), indent=indent, ensure_ascii=False)
