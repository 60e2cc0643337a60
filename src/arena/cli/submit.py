"""`arena submit <kind>`: flags as upstream Arena spells them, turned into a JobSpec."""
from __future__ import annotations

import argparse
import sys
from importlib import import_module
from typing import Any

from arena.cli.parser import add_global, add_output, info



def add_common(p: argparse.ArgumentParser) -> None:
    """Upstream's SubmitArgsBuilder flags (common to every kind except volcanojob)."""
    p.add_argument("--name", required=True, help="job name: DNS-1123 label, at most 49 characters")
    p.add_argument("--image", default="", help="container image (recorded; the local engine runs in this environment)")
    p.add_argument("--workers", type=int, default=1, help="number of workers")
    p.add_argument("--gpus", default=0, help="GPUs per replica")
    p.add_argument("--device", action="append", default=[], help="extended resource vendor/name=N (repeatable)")
    p.add_argument("--cpu", default=None, help="CPU request per replica, e.g. 2 or 500m")
    p.add_argument("--memory", default=None, help="memory request per replica, e.g. 4Gi")
    p.add_argument("-e", "--env", action="append", default=[], help="environment variable K=V (repeatable)")
    p.add_argument("--working-dir", "--workingDir", dest="working_dir", default=None,
                   help="working directory of every replica (default: the current directory)")
    p.add_argument("--retry", type=int, default=0, help="restarts allowed before the job fails (backoffLimit)")
    p.add_argument("-l", "--label", action="append", default=[], help="label k=v (repeatable)")
    p.add_argument("-a", "--annotation", action="append", default=[], help="annotation k=v (repeatable)")
    p.add_argument("--shell", default="sh", help="shell that runs the command with -c")
    p.add_argument("-p", "--priority", default=None, help="priority class (low, normal, high or one from the config)")
    p.add_argument("--queue", default=None, help="queue to submit to (default: default)")
    p.add_argument("--gang", action="store_true", help="gang scheduling on the cluster (always on locally)")
    p.add_argument("--scheduler", default=None, help="schedulerName on the cluster")
    p.add_argument("--toleration", action="append", default=[], help="toleration (kubernetes engine)")
    p.add_argument("--selector", action="append", default=[], help="node selector k=v (kubernetes engine)")
    p.add_argument("-d", "--data", action="append", default=[], help="data volume NAME:/mount/path")
    p.add_argument("--data-dir", "--dataDir", dest="data_dir", action="append", default=[],
                   help="host directory HOST[:MOUNT]")
    p.add_argument("--sync-mode", "--syncMode", dest="sync_mode", default=None, help="code sync: git or rsync")
    p.add_argument("--sync-source", "--syncSource", dest="sync_source", default=None, help="code sync source")
    p.add_argument("--sync-image", "--syncImage", dest="sync_image", default=None, help="code sync image (cluster)")
    p.add_argument("--tensorboard", action="store_true", help="start TensorBoard for the job")
    p.add_argument("--tensorboard-image", default=None, help="TensorBoard image (cluster)")
    p.add_argument("--logdir", default=None, help="TensorBoard log directory")
    p.add_argument("--image-pull-policy", default="Always", help="image pull policy (cluster)")
    p.add_argument("--wait", action="store_true", help="block until the job finishes, with a live status line")
    p.add_argument("--wait-timeout", type=float, default=None, help="seconds to wait at most with --wait")
    p.add_argument("--dry-run", action="store_true", help="print the resolved job and do not submit it")
    add_output(p, ("yaml", "json", "name"))
    p.add_argument("command", nargs="*", help="the command to run (joined with spaces, run with --shell -c)")


def _add_pytorch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nproc-per-node", default=None, help="processes per node for torchrun: auto|cpu|gpu|N")
    p.add_argument("--master-port", type=int, default=0, help="MASTER_PORT (default: a free port)")
    p.add_argument("--clean-task-policy", default="Running", help="None|Running|All")
    p.add_argument("--running-timeout", default=None, help="fail the job after this long running (activeDeadlineSeconds)")
    p.add_argument("--ttl-after-finished", default=None, help="delete the job this long after it finished")
    p.add_argument("--share-memory", default=None, help="/dev/shm size (kubernetes engine)")


KINDS: dict[str, tuple[tuple[str, ...], str, Any]] = {
    "pytorchjob": (("pytorch", "py"), "arena.spec.pytorchjob", _add_pytorch),
}


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_)
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, (kind_aliases, builder, adder) in KINDS.items():
        kp = kinds.add_parser(kind, aliases=list(kind_aliases), help=f"submit a {kind}")
        add_common(kp)
        adder(kp)
        add_global(kp)
        kp.set_defaults(func=run, builder=builder, kind_name=kind)


def _live(view: Any) -> None:
    running = sum(1 for i in view.instances if i.status == "Running")
    line = f"{view.name}: {view.status} ({view.phase}) {running}/{len(view.instances)} replicas running"
    if view.reason and view.status in ("QUEUING", "PENDING"):
        line += f" - {view.reason}"
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K" + line)
        if view.status in ("SUCCEEDED", "FAILED"):
            sys.stderr.write("\n")
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from arena.cli.context import client_for
    from arena.cli.output import dump
    from arena.spec import job as jobspec

    client = client_for(args)
    opts = dict(vars(args))
    opts["namespace"] = client.namespace
    spec = import_module(args.builder).build(**opts)
    if args.dry_run:
        dump(jobspec.to_builtins(spec), args.output if args.output in ("json", "yaml") else "yaml")
        return 0
    if args.image and client.engine_name == "local":
        _notice_image_once(client.home)
    view = client.submit(spec)
    if args.output == "name":
        print(f"{spec.kind}/{view.name}")
    else:
        print(f"{spec.kind}/{view.name} created")
        info(f"The Job {view.name} has been submitted successfully")
        info(f"You can run `arena get {view.name} --type {spec.kind} -n {view.namespace}` to check the job status")
    if not args.wait:
        return 0
    final = client.wait(view.name, view.namespace, timeout=args.wait_timeout, on_change=_live)
    return 0 if final.status == "SUCCEEDED" else 1


def _notice_image_once(home: Any) -> None:
    marker = home / ".image-notice-shown"
    if marker.exists():
        return
    info("--image is recorded for the kubernetes engine; the local engine runs the command in this "
         "environment (shown once)")
    try:
        home.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
