"""Queue manifests: a Volcano Queue (+ a Command to close it) and Kueue's three objects."""
from __future__ import annotations

import pytest

from arena.engines.kubernetes.render import OWNER_UID, bind_owner, kueue_queues, volcano_queue
from arena.errors import InvalidSpec


def test_volcano_queue_fields() -> None:
    (queue,) = volcano_queue("team-a", weight=4, capability={"cpu": "64", "nvidia.com/gpu": 8},
                             guarantee={"cpu": "8"}, reclaimable=True)
    assert (queue["apiVersion"], queue["kind"], queue["metadata"]) == (
        "scheduling.volcano.sh/v1beta1", "Queue", {"name": "team-a"})
    assert queue["spec"] == {"weight": 4, "capability": {"cpu": "64", "nvidia.com/gpu": 8},
                             "guarantee": {"resource": {"cpu": "8"}}, "reclaimable": True}


def test_closed_queue_gets_a_close_command() -> None:
    queue, command = volcano_queue("team-a", state="Closed")
    assert "state" not in queue["spec"]  # state is status, written by the controller
    assert command["kind"] == "Command" and command["action"] == "CloseQueue"
    assert command["metadata"]["generateName"] == "team-a-closequeue-"
    assert command["target"] == {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue", "name": "team-a",
                                 "uid": OWNER_UID, "controller": True}
    bound = bind_owner([queue, command], "q-uid")[1]
    assert bound["target"]["uid"] == bound["metadata"]["ownerReferences"][0]["uid"] == "q-uid"


@pytest.mark.parametrize("kwargs,field", [
    ({"weight": 0}, "--weight"), ({"state": "Paused"}, "--state"),
    ({"capability": {"cpu": "lots"}}, "--capability"), ({"guarantee": {"memory": "-1Gi"}}, "--guarantee"),
])
def test_volcano_queue_errors(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        volcano_queue("team-a", **kwargs)
    assert err.value.field == field


def test_kueue_objects() -> None:
    flavor, cq, lq = kueue_queues("team-a", "ml", {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 4},
                                  cohort="org", borrowing_limit={"nvidia.com/gpu": 2})
    assert [o["kind"] for o in (flavor, cq, lq)] == ["ResourceFlavor", "ClusterQueue", "LocalQueue"]
    assert {o["apiVersion"] for o in (flavor, cq, lq)} == {"kueue.x-k8s.io/v1beta2"}
    assert flavor["metadata"] == {"name": "default-flavor"}
    group = cq["spec"]["resourceGroups"][0]
    assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu"]
    assert group["flavors"][0]["name"] == "default-flavor"
    assert group["flavors"][0]["resources"][2] == {"name": "nvidia.com/gpu", "nominalQuota": 4, "borrowingLimit": 2}
    assert cq["spec"]["cohortName"] == "org"
    assert cq["spec"]["namespaceSelector"] == {}  # every namespace may use it through a LocalQueue
    assert lq["metadata"] == {"name": "team-a", "namespace": "ml"}
    assert lq["spec"] == {"clusterQueue": "team-a"}


def test_kueue_named_cluster_queue_and_flavor() -> None:
    flavor, cq, lq = kueue_queues("lq", "default", {"cpu": 4}, cluster_queue="shared", flavor="spot",
                                  node_labels={"pool": "spot"})
    assert flavor["spec"] == {"nodeLabels": {"pool": "spot"}}
    assert cq["metadata"]["name"] == lq["spec"]["clusterQueue"] == "shared"
    assert cq["spec"]["resourceGroups"][0]["flavors"][0]["name"] == "spot"


@pytest.mark.parametrize("args,kwargs,field", [
    (("lq", "default", {}), {}, "--quota"),
    (("lq", "default", {"cpu": "1"}), {"borrowing_limit": {"cpu": "1"}}, "--borrowing-limit"),
    (("lq", "default", {"cpu": "1"}), {"cohort": "c", "borrowing_limit": {"memory": "1Gi"}}, "--borrowing-limit"),
    (("lq", "default", {"cpu": "1"}), {"queueing_strategy": "LIFO"}, "--queueing-strategy"),
    (("lq", "default", {"cpu": "1"}), {"preemption": "Always"}, "--preemption"),
    (("Bad_Name", "default", {"cpu": "1"}), {}, "--name"),
])
def test_kueue_errors(args: tuple, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        kueue_queues(*args, **kwargs)
    assert err.value.field == field
