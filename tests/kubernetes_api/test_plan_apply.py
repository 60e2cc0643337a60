"""plan/apply: the plan is what `--dry-run` prints and exactly what apply sends, API versions included."""
from __future__ import annotations

import json

import msgspec
import pytest
import yaml
from fake_apiserver import DEFAULT_CRDS, FakeApiServer
from k8s_objects import SPECS

from arena.engines.kubernetes import planner
from arena.engines.kubernetes.engine import KubernetesEngine
from arena.engines.kubernetes.render import bind_owner, to_json, to_yaml
from arena.errors import ArenaError, InvalidSpec
from arena.spec.job import JobSpec, SyncSpec, TaskSpec

V2_ONLY = [c for c in DEFAULT_CRDS if c != "mpijobs"] + ["mpijobs-v2beta1"]
DISCOVERY = ("/apis/kubeflow.org/v1", "/apis/kubeflow.org/v2beta1")


def discovery_paths(server: FakeApiServer) -> list[str]:
    return [r.path for r in server.api_requests() if r.path in DISCOVERY]


@pytest.fixture
def everything(make_server) -> FakeApiServer:
    return make_server(installed=[*DEFAULT_CRDS, "mpijobs-v2beta1"])


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("case", list(SPECS))
def test_post_bodies_equal_the_printed_plan(case: str, fmt: str, everything: FakeApiServer, make_engine) -> None:
    """What `--dry-run -o yaml|json` prints, parsed back, is what the API server receives (owner uid bound)."""
    engine: KubernetesEngine = make_engine(everything)
    plan = engine.plan(SPECS[case])
    text = plan.text(fmt)
    printed = list(yaml.safe_load_all(text)) if fmt == "yaml" else json.loads(text)["items"]
    view = engine.apply(plan)
    posts = [p.body for p in everything.requests_to("POST")]
    assert posts == [printed[0], *(bind_owner(printed[1:], view.uuid) if printed[1:] else [])]


def test_text_is_the_dry_run_output_and_document_the_json_list() -> None:
    plan = planner.plan(SPECS["tfjob"], {"ARENA_USER": "bob"})
    assert plan.text("yaml") == to_yaml(plan.manifests)
    assert plan.text("json") == to_json(plan.manifests)
    assert plan.document() == {"apiVersion": "v1", "kind": "List", "items": plan.manifests}
    assert list(plan) == plan.manifests  # a plan reads as the objects it creates, in order
    with pytest.raises(InvalidSpec, match="yaml or json") as err:
        plan.text("wide")
    assert err.value.field == "--output"


def test_mpijob_dry_run_prints_the_version_submit_creates(make_server, make_engine) -> None:
    """On a cluster serving only the mpi-operator's MPIJob, plan (= --dry-run) is v2beta1, as the POST is."""
    server = make_server(installed=V2_ONLY)
    engine: KubernetesEngine = make_engine(server)
    plan = engine.plan(SPECS["mpijob"])
    assert plan.manifests[0]["apiVersion"] == "kubeflow.org/v2beta1"
    assert plan.spec.options is not None and plan.spec.options.api_version == "v2beta1"  # type: ignore[union-attr]
    engine.submit(SPECS["mpijob"])
    post, record = server.requests_to("POST")
    assert record.path == "/api/v1/namespaces/default/configmaps"
    assert post.path == "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs"
    assert post.body == plan.manifests[0]
    assert discovery_paths(server) == list(DISCOVERY)  # looked up once, for plan and submit together


def test_mpijob_keeps_v1_where_it_is_served(everything: FakeApiServer, make_engine) -> None:
    engine: KubernetesEngine = make_engine(everything)
    assert engine.plan(SPECS["mpijob"]).manifests[0]["apiVersion"] == "kubeflow.org/v1"
    assert discovery_paths(everything) == ["/apis/kubeflow.org/v1"]


@pytest.mark.parametrize("case", ["pytorchjob", "tfjob", "volcanojob", "appwrapperjob", "mpijob-v2beta1"])
def test_kinds_with_one_version_plan_without_asking_the_cluster(case: str, everything: FakeApiServer,
                                                                make_engine) -> None:
    engine: KubernetesEngine = make_engine(everything)
    engine.plan(SPECS[case])
    assert everything.api_requests() == []

    def never(key: str) -> bool:
        raise AssertionError(f"asked about {key}")

    planner.plan(SPECS[case], {}, serves=never)


def test_without_a_cluster_plan_keeps_the_default_version(make_server, make_engine, tmp_path) -> None:
    gone = make_server(installed=V2_ONLY)
    engine: KubernetesEngine = make_engine(gone)
    gone.stop()  # the kubeconfig names a server that no longer answers
    assert engine.plan(SPECS["mpijob"]).manifests[0]["apiVersion"] == "kubeflow.org/v1"
    no_config = planner.cluster(kubeconfig=str(tmp_path / "missing"), env={})
    assert planner.plan(SPECS["mpijob"], {}, serves=no_config).manifests[0]["apiVersion"] == "kubeflow.org/v1"


def test_plan_without_an_engine_asks_the_kubeconfigs_cluster(make_server, tmp_path) -> None:
    server = make_server(installed=V2_ONLY)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(server.kubeconfig()))
    serves = planner.cluster(kubeconfig=str(path), env={})
    assert planner.plan(SPECS["pytorchjob"], {}, serves=serves).manifests[0]["kind"] == "PyTorchJob"
    assert server.api_requests() == []  # no kind asked: the kubeconfig is not even read
    assert planner.plan(SPECS["mpijob"], {}, serves=serves).manifests[0]["apiVersion"] == "kubeflow.org/v2beta1"


def test_apply_creates_the_credentials_secret_the_plan_names(apiserver: FakeApiServer, make_engine) -> None:
    spec = JobSpec(kind="pytorchjob", name="synced", image="pytorch:2",
                   sync=SyncSpec(mode="rsync", source="rsync://10.0.0.1/code/"),
                   tasks=[TaskSpec(name="master", command="python t.py")])
    engine: KubernetesEngine = make_engine(apiserver, env={"RSYNC_PASSWORD": "s3cret"})
    plan = engine.plan(spec)
    assert plan.credentials_secret == "synced-sync-credentials"
    assert "s3cret" not in plan.text("yaml") + plan.text("json") + json.dumps(msgspec.to_builtins(plan))
    engine.apply(plan)
    secret = next(p.body for p in apiserver.requests_to("POST") if p.body["kind"] == "Secret")
    assert (secret["metadata"]["name"], secret["stringData"]) == ("synced-sync-credentials", {"password": "s3cret"})
    apiserver.reset_requests()
    elsewhere: KubernetesEngine = make_engine(apiserver, env={})  # the same plan, no credentials here
    with pytest.raises(ArenaError, match="reads Secret synced-sync-credentials, but this environment has no "):
        elsewhere.apply(plan)
    assert apiserver.requests_to("POST") == []


def test_apply_takes_only_its_own_plans(engine: KubernetesEngine) -> None:
    with pytest.raises(ArenaError, match="applies its own plans, not list"):
        engine.apply([{"kind": "PyTorchJob"}])  # type: ignore[arg-type]


def test_dry_run_without_a_kubeconfig_loads_no_api_client(tmp_path) -> None:
    """An MPIJob plan with no cluster configured keeps v1 without importing lightkube or httpx."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from arena.engines.kubernetes import planner\n"
            "from arena.spec.job import JobSpec, TaskSpec\n"
            "spec = JobSpec(kind='mpijob', name='pi', image='mpi:1', tasks=[TaskSpec(name='launcher', command='x')])\n"
            f"env = {{'KUBECONFIG': {str(tmp_path / 'missing')!r}}}\n"
            "plan = planner.plan(spec, env, serves=planner.cluster(env=env))\n"
            "print(plan.manifests[0]['apiVersion'], 'lightkube' in sys.modules, 'httpx2' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["kubeflow.org/v1", "False", "False"]
