"""The compatibility tests reuse the Kubernetes API tests' loopback API server and engine fixtures."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(_HERE.parent / "kubernetes_api"))  # fake_apiserver, k8s_objects

_spec = importlib.util.spec_from_file_location("kubernetes_api_fixtures",
                                               _HERE.parent / "kubernetes_api" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

make_server = _fixtures.make_server
apiserver = _fixtures.apiserver
make_engine = _fixtures.make_engine
