"""`--dry-run -o yaml|json`: exactly the manifests apply would send, in the same order."""
from __future__ import annotations

import json
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Block YAML without anchors: a label map shared by two objects is written out twice."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Multi-line commands read better as literal blocks.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(manifests: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream, one document per object, as `kubectl apply -f` reads it."""
    return yaml.dump_all(manifests, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         explicit_start=True, allow_unicode=True, width=1000)


def to_list(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """The objects as one `v1 List`, the shape `kubectl get -o json` prints for several objects."""
    return {"apiVersion": "v1", "kind": "List", "items": list(manifests)}


def to_json(manifests: list[dict[str, Any]], indent: int | None = 2) -> str:
    return json.dumps(to_list(manifests), indent=indent, ensure_ascii=False)
