"""`--image-pull-policy`: on every job container and the code-sync init container, as upstream's charts
write it, upstream's `Always` when unset; TensorBoard always `Always` (upstream's own tensorboardImagePullpolicy)."""
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
    assert found.pop("tensorboard")[0]["imagePullPolicy"] == "Always"
    assert found and all(c["imagePullPolicy"] == policy for cs in found.values() for c in cs)
    assert all(cs[0]["name"] == "init-code" for cs in found.values())  # the sync container has it too
    validator.assert_valid(manifests)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_unset_policy_is_upstreams_always(kind: str) -> None:
    """Upstream's --image-pull-policy default is Always: a job submitted by either tool pulls alike."""
    spec = with_common(KINDS[kind](), "everything")
    assert spec.image_pull_policy is None
    found = containers(render(spec))
    assert all(c["imagePullPolicy"] == "Always" for cs in found.values() for c in cs)
    assert json.dumps(render(spec)).count('"imagePullPolicy"') == sum(len(cs) for cs in found.values())


def test_unknown_policy_names_the_flag() -> None:
    spec = msgspec.structs.replace(KINDS["pytorch-master-only"](), image_pull_policy="Sometimes")
    with pytest.raises(InvalidSpec, match="'Sometimes' must be one of Always, IfNotPresent, Never") as err:
        render(spec)
    assert err.value.field == "--image-pull-policy"
