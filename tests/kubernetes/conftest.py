"""Fixtures for the Kubernetes render tests: the shared manifest validator, loaded once.

The validator and the CRDs live in ../shared next to the repository; when that directory is
absent (a plain checkout), the validation tests skip and the unit assertions still run.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The suite runs with --import-mode=importlib, which leaves sys.path alone: make this directory's
# helper modules (k8s_specs, k8s_validation; unique names) importable by the test modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from k8s_validation import VALIDATOR_PATH, Validator, load  # noqa: E402


@pytest.fixture(scope="session")
def validator() -> Validator:
    loaded = load()
    if loaded is None:
        pytest.skip(f"shared validator not found at {VALIDATOR_PATH}")
    return loaded
