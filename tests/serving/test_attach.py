"""`arena serve attach` on the local engine: the command runs in the serving replica's own environment and
directory (its PORT, its working directory), with upstream's greeting and texts."""
from __future__ import annotations

from typing import Any

import pytest
from serving_helpers import free_port, serve, wait_available

pytestmark = pytest.mark.e2e


def test_attach_runs_in_the_replicas_environment(arena: Any) -> None:
    port = free_port()
    serve(arena, "att", "v1", port, "--replicas", "2")
    job = wait_available(arena, "att", "v1", 2)
    first = job["instances"][0]

    many = arena.run("serve", "attach", "att", "--", "true")  # two instances: upstream asks for -i
    assert many.returncode == 2 and "please use '-i' or '--instance' to filter" in many.stderr, many.stderr

    done = arena.run("serve", "attach", "att", "-i", first["name"], "--", "sh", "-c", 'echo "port=$PORT"; exit 3')
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stdout.splitlines() == [f"port={first['ports']['PORT']}"]
    assert f"Hello! Arena attach the container {first['name']} of instance {first['name']}" in done.stderr

    # logs -c: an instance is one process, its only container name is its own (as attach takes it)
    assert arena.run("serve", "logs", "att", "-i", first["name"], "-c", first["name"]).returncode == 0
    side = arena.run("serve", "logs", "att", "-i", first["name"], "-c", "sidecar")
    assert side.returncode == 1 and side.stderr.strip().splitlines() == [
        "arena: error: -c/--container 'sidecar' (an instance here is one process) is not supported by the local "
        "engine"], side.stderr

    wrong = arena.run("serve", "attach", "att", "-i", "nope", "--", "true")
    assert wrong.returncode == 2 and "invalid instance name nope of serving job att" in wrong.stderr

    missing = arena.run("serve", "attach", "nosuch", "--", "true")
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1, missing.stderr
