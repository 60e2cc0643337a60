"""`--image-pull-policy`: on every job container and the code-sync init container, as upstream's charts
write it; never on TensorBoard (upstream gives it its own policy); absent when unset."""
from __future__ import annotations

import json

import msgspec
import pytest
from k8s_specs import KINDS, templates, with_common
from k8s_validation import Validator

from arena.engines.kubernetes.render import render
from arena.errors import InvalidSpec


def containers(manifests: list[dict]) -> dict[str, list[dict]]:
    """Role (or TensorBoard) → its containers, init containers first."""
    out = {role: [*tpl["spec"].get("initContainers", []), *tpl["spec"]["containers"]]
           for role, tpl in templates(manifests[0]).items()}
    for obj in manifests[1:]:
        if obj["kind"] == "Deployment":
            out["tensorboard"] = obj["spec"]["template"]["spec"]["containers"]
    return out


@pytest.mark.parametrize("policy", ["Always", "IfNotPresent", "Never"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_job_container_gets_the_policy(validator: Validator, kind: str, policy: str) -> None:
    spec = msgspec.structs.replace(with_common(KINDS[kind](), "everything"), image_pull_policy=policy)
    manifests = render(spec, user_id="u-1", sync_secret="creds")
    found = containers(manifests)
    assert found.pop("tensorboard")[0].get("imagePullPolicy") is None
    assert found and all(c["imagePullPolicy"] == policy for cs in found.values() for c in cs)
    assert all(cs[0]["name"] == "init-code" for cs in found.values())  # the sync container has it too
    validator.assert_valid(manifests)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unset_policy_renders_no_field(kind: str) -> None:
    manifests = render(with_common(KINDS[kind](), "everything"))
    assert "imagePullPolicy" not in json.dumps(manifests)


def test_unknown_policy_names_the_flag() -> None:
    spec = msgspec.structs.replace(KINDS["pytorch-master-only"](), image_pull_policy="Sometimes")
    with pytest.raises(InvalidSpec, match="'Sometimes' must be one of Always, IfNotPresent, Never") as err:
        render(spec)
    assert err.value.field == "--image-pull-policy"
