"""Every kind × main option set renders manifests the upstream CRD and core schemas accept."""
from __future__ import annotations

import subprocess
import sys

import pytest
from k8s_specs import COMMON, KINDS, with_common
from k8s_validation import VALIDATOR_PATH, Validator

from arena.engines.kubernetes.render import kueue_queues, render, to_json, to_yaml, volcano_queue


@pytest.mark.parametrize("common", sorted(COMMON))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_kind_and_options_validate(validator: Validator, kind: str, common: str) -> None:
    spec = with_common(KINDS[kind](), common)
    manifests = render(spec, user_id="u-1234", user_name="alice", sync_secret="creds")
    validator.assert_valid(manifests)
    expected = 1 + (2 if spec.tensorboard else 0) + (1 if kind == "aw-volcano-headless" else 0)
    assert len(manifests) == expected


def test_queues_validate(validator: Validator) -> None:
    manifests = [
        *volcano_queue("team-a", weight=3, capability={"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": 8},
                       deserved={"cpu": "32"}, guarantee={"cpu": "4"}, reclaimable=False, priority=1,
                       parent="root-queue", state="Closed", labels={"team": "a"}),
        *volcano_queue("team-b"),
        *kueue_queues("team-a-queue", "ml", {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 4},
                      cohort="all-teams", borrowing_limit={"cpu": "4"}, namespace_selector={"team": "a"},
                      node_labels={"pool": "gpu"}, queueing_strategy="StrictFIFO", preemption="LowerPriority"),
    ]
    validator.assert_valid(manifests)


@pytest.mark.skipif(not VALIDATOR_PATH.is_file(), reason="shared validator not present")
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_validator_cli_accepts_dry_run_output(tmp_path, fmt: str) -> None:
    """The stand-alone tool, fed exactly what `--dry-run -o yaml|json` prints (every kind for YAML;
    JSON, which shares the objects, with a smaller sample to stay fast)."""
    kinds = KINDS.values() if fmt == "yaml" else [KINDS["pytorch-workers-nproc"], KINDS["aw-volcano-headless"]]
    manifests = []
    for make in kinds:
        manifests += render(with_common(make(), "everything"), user_id="u-1")
    manifests += volcano_queue("q", state="Closed") + kueue_queues("lq", "default", {"cpu": "1"})
    path = tmp_path / f"all.{fmt}"
    path.write_text(to_yaml(manifests) if fmt == "yaml" else to_json(manifests))
    proc = subprocess.run([sys.executable, str(VALIDATOR_PATH), str(path)], capture_output=True, text=True,
                          timeout=120)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(lines) == len(manifests)
    assert not [line for line in lines if line.startswith("INVALID")]
    assert all(line.startswith(("OK ", "SKIP ")) for line in lines)


def test_validator_reports_pruned_fields(validator: Validator) -> None:
    """Sanity check of the harness: a field the API server would prune fails the assertion."""
    job = render(KINDS["aw-pytorch"]())[0]
    job["spec"]["components"][0]["template"]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["bogus"] = 1
    job["spec"]["suspendd"] = True
    lines = validator.lines([job])
    assert lines[0].startswith("INVALID") and lines[0].count("would prune") == 2
    with pytest.raises(AssertionError):
        validator.assert_valid([job])
