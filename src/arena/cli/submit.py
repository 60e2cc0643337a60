"""`arena submit [KIND]`: flags as upstream Arena spells them (or a job file), turned into a JobSpec.

    arena submit KIND [flags] COMMAND...       the builder of KIND turns the flags into a JobSpec
    arena submit [KIND] -f job.yaml [flags]    the file, with the flags given explicitly on top

Builders (`arena.spec.<kind>`) and the job-file module are imported only when `run` needs them.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import Any

from arena.cli.parser import Parser, RawDescriptionHelpFormatter, UsageError, add_global, add_output, info
from arena.spec import kinds as spec_kinds

_BOOL_WORDS = {"true": True, "True": True, "TRUE": True, "1": True, "false": False, "False": False, "FALSE": False,
               "0": False}


# ---------------------------------------------------------------------------------------------------
# Flag sets. Defaults are None/[]/False so that `jobfile.explicit_flags` sees exactly what was typed;
# the builders supply upstream's defaults (quoted in the help).

def _add_job(p: argparse.ArgumentParser) -> None:
    """Flags every kind takes: identity, file, metadata, placement, volumes, sync, tensorboard, output."""
    p.add_argument("--name", default=None, help="job name: DNS-1123 label, at most 49 characters (required without -f)")
    p.add_argument("-f", "--file", default=None, metavar="FILE",
                   help="job file (docs/jobfile.md); flags given explicitly override its values")
    p.add_argument("--image", default=None, help="container image (the local engine runs in this environment)")
    p.add_argument("-e", "--env", action="append", default=[], help="environment variable K=V (repeatable)")
    p.add_argument("--working-dir", "--workingDir", dest="working_dir", default=None,
                   help="working directory of every replica (default: the current directory; /root on a cluster)")
    p.add_argument("-l", "--label", action="append", default=[], help="label k=v (repeatable)")
    p.add_argument("-a", "--annotation", action="append", default=[], help="annotation k=v (repeatable)")
    p.add_argument("--shell", default=None, help="shell that runs the command with -c (default: sh)")
    p.add_argument("-p", "--priority", default=None, help="priority class (low, normal, high or one from the config)")
    p.add_argument("--queue", default=None, help="queue to submit to (default: default)")
    p.add_argument("--toleration", action="append", default=[], help="toleration (kubernetes engine; repeatable)")
    p.add_argument("--selector", action="append", default=[], help="node selector k=v (kubernetes engine; repeatable)")
    p.add_argument("-d", "--data", action="append", default=[], help="data volume NAME:/mount/path (repeatable)")
    p.add_argument("--data-dir", "--dataDir", dest="data_dir", action="append", default=[],
                   help="host directory HOST[:MOUNT] (repeatable)")
    p.add_argument("--sync-mode", "--syncMode", dest="sync_mode", default=None, help="code sync: git or rsync")
    p.add_argument("--sync-source", "--syncSource", dest="sync_source", default=None, help="code sync source")
    p.add_argument("--sync-image", "--syncImage", dest="sync_image", default=None, help="code sync image (cluster)")
    p.add_argument("--tensorboard", action="store_true", help="start TensorBoard for the job")
    p.add_argument("--tensorboard-image", default=None, help="TensorBoard image (cluster)")
    p.add_argument("--logdir", default=None, help="TensorBoard log directory (default: /training_logs)")
    p.add_argument("--tensorboard-ttl", default=None, help="keep TensorBoard this long after the job finished (e.g. 1h)")
    p.add_argument("--share-memory", default=None, help="/dev/shm size, e.g. 2Gi (kubernetes engine)")
    p.add_argument("--image-pull-policy", default="Always", help="image pull policy (cluster)")
    p.add_argument("--wait", action="store_true", help="block until the job finishes, with a live status line")
    p.add_argument("--wait-timeout", type=float, default=None, help="seconds to wait at most with --wait")
    p.add_argument("--dry-run", action="store_true", help="print the resolved job and do not submit it")
    add_output(p, ("yaml", "json", "name"))
    p.add_argument("command", nargs="*", help="the command to run (joined with spaces, run with --shell -c)")


def _add_resources(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpus", default=None, help="GPUs per replica (default: 0)")
    p.add_argument("--device", action="append", default=[], help="extended resource vendor/name=N (repeatable)")
    p.add_argument("--cpu", default=None, help="CPU request per replica, e.g. 2 or 500m")
    p.add_argument("--memory", default=None, help="memory request per replica, e.g. 4Gi")


def add_common(p: argparse.ArgumentParser) -> None:
    """Upstream's SubmitArgsBuilder flags (common to every kind except volcanojob)."""
    _add_job(p)
    _add_resources(p)
    p.add_argument("--workers", type=int, default=None, help="number of workers (default: 1)")
    p.add_argument("--retry", type=int, default=None, help="restarts allowed before the job fails (backoffLimit)")
    p.add_argument("--gang", action="store_true", help="gang scheduling on the cluster (always on locally)")
    p.add_argument("--scheduler", default=None, help="schedulerName on the cluster")
    p.add_argument("--kueue-queue", default=None, help="Kueue LocalQueue (kubernetes engine)")


def _add_run_policy(p: argparse.ArgumentParser, clean_default: str = "Running") -> None:
    p.add_argument("--clean-task-policy", default=None, help=f"None|Running|All (default: {clean_default})")
    p.add_argument("--running-timeout", default=None, help="fail the job after running this long")
    p.add_argument("--ttl-after-finished", default=None, help="delete the job this long after it finished")


def _add_pytorch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nproc-per-node", default=None, help="processes per node for torchrun: auto|cpu|gpu|N")
    p.add_argument("--master-port", type=int, default=None, help="MASTER_PORT (default: a free port)")
    _add_run_policy(p)


def _add_tf(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ps", type=int, default=None, help="parameter servers (default: 0)")
    p.add_argument("--chief", action="store_true", help="add a Chief replica")
    p.add_argument("--evaluator", action="store_true", help="add an Evaluator replica")
    p.add_argument("--worker-image", default=None, help="worker (and chief, evaluator) image (default: --image)")
    p.add_argument("--ps-image", default=None, help="PS image (default: --image)")
    for role in ("worker", "ps", "chief", "evaluator"):
        p.add_argument(f"--{role}-cpu", default=None, help=f"{role} CPU (default: --cpu)")
        p.add_argument(f"--{role}-memory", default=None, help=f"{role} memory (default: --memory)")
    p.add_argument("--ps-gpus", default=None, help="GPUs per PS (default: 0)")
    for role in ("worker", "ps", "chief", "evaluator"):
        p.add_argument(f"--{role}-port", type=int, default=None, help=f"{role} port (default: a free port)")
    p.add_argument("--success-policy", default=None, help="ChiefWorker|AllWorkers (default: ChiefWorker)")
    _add_run_policy(p)


def _add_mpi(p: argparse.ArgumentParser) -> None:
    p.add_argument("--slots-per-worker", type=int, default=None,
                   help="MPI ranks per worker (default: the worker's GPUs, else 1)")
    p.add_argument("--mpi-implementation", default=None, help="auto|openmpi|mpich (default: auto)")
    p.add_argument("--mpi-api-version", "--mpi-api", dest="mpi_api_version", default=None, help="MPIJob API on a cluster: v1|v2beta1 (default: v1)")
    _add_run_policy(p, "All")


def _add_volcano(p: argparse.ArgumentParser) -> None:
    """Upstream's standalone volcanojob flags, plus the tasks, policies and plugins of a real Volcano Job."""
    _add_job(p)
    _add_resources(p)
    p.add_argument("--task", action="append", default=[], metavar="NAME:REPLICAS[:CPU[:MEMORY[:GPUS]]][=COMMAND]",
                   help="a task (repeatable); COMMAND defaults to the trailing command")
    p.add_argument("--task-name", default=None, help="name of the one task when no --task is given (default: worker)")
    p.add_argument("--task-replicas", type=int, default=None, help="replicas of the single task (default: 1)")
    p.add_argument("--task-cpu", default=None, help="CPU per replica of the single task (default: --cpu)")
    p.add_argument("--task-memory", default=None, help="memory per replica of the single task (default: --memory)")
    p.add_argument("--policy", action="append", default=[], metavar="[TASK:]EVENT=ACTION[@TIMEOUT]",
                   help="lifecycle policy, e.g. worker:PodFailed=RestartTask (repeatable)")
    p.add_argument("--depends-on", action="append", default=[], metavar="TASK:DEP[,DEP...]",
                   help="start TASK after its dependencies are ready (repeatable)")
    p.add_argument("--min-available", type=int, default=None, help="gang size (default: every replica)")
    p.add_argument("--max-retry", type=int, default=None, help="job restarts allowed (default: Volcano's 3)")
    p.add_argument("--tf-config", default=None, help="none|auto: auto gives tasks a TFJob's TF_CONFIG (default: none)")
    p.add_argument("--plugin", action="append", default=[], metavar="NAME[:--ARG[=V],...]",
                   help="job plugin (repeatable; default env and svc; 'none' for none)")
    p.add_argument("--scheduler-name", "--scheduler", dest="scheduler", default=None,
                   help="schedulerName on the cluster (default: volcano)")


def _add_appwrapper(p: argparse.ArgumentParser) -> None:
    """The fork's appwrapperjob flags (ARENA.md §2.6), on top of the common ones."""
    p.add_argument("--nproc-per-node", default=None, help="auto|cpu|gpu|N (PET_NPROC_PER_NODE)")
    _add_run_policy(p)
    p.add_argument("--inner-type", default=None, help="pytorch|volcano (default: pytorch)")
    p.add_argument("--retry-limit", type=int, default=None, help="AppWrapper retryLimit (default: 3)")
    p.add_argument("--admission-grace-period", default=None, help="AppWrapper admission grace (default: 1m)")
    p.add_argument("--warmup-grace-period", default=None, help="AppWrapper warmup grace (default: 5m)")
    p.add_argument("--failure-grace-period", default=None, help="AppWrapper failure grace (default: 1m)")
    p.add_argument("--retry-pause-period", default=None, help="AppWrapper pause between retries (default: 90s)")
    p.add_argument("--success-ttl", default=None, help="delete the AppWrapper this long after success")
    p.add_argument("--min-available", type=int, default=None, help="volcano: gang size (default 0: every replica)")
    p.add_argument("--scheduler-name", default=None, help="schedulerName (default: volcano for --inner-type volcano)")
    p.add_argument("--task-name", default=None, help="volcano: task name (default: worker)")
    p.add_argument("--max-retry", type=int, default=None, help="volcano: task maxRetry (default: 10000)")
    p.add_argument("--replicas", type=int, default=None, help="volcano: task replicas (default: 1)")
    p.add_argument("--master-port", type=int, default=None, help="MASTER_PORT and service port (default: 23456)")
    p.add_argument("--use-svc-plugin", dest="use_svc_plugin", action="store_const", const=True, default=None,
                   help="volcano: use Volcano's svc plugin (default: true; --use-svc-plugin=false for a headless "
                        "Service)")
    p.add_argument("--no-use-svc-plugin", dest="use_svc_plugin", action="store_const", const=False,
                   help=argparse.SUPPRESS)
    for word, value in _BOOL_WORDS.items():  # pflag spelling: --use-svc-plugin=false
        p.add_argument(f"--use-svc-plugin={word}", dest="use_svc_plugin", action="store_const", const=value,
                       help=argparse.SUPPRESS)
    p.add_argument("--network-topology-mode", default=None, help="volcano: hard|soft")
    p.add_argument("--highest-tier-allowed", type=int, default=None, help="volcano: networkTopology highestTierAllowed")
    p.add_argument("--total-partitions", type=int, default=None, help="volcano: partitionPolicy totalPartitions")
    p.add_argument("--partition-size", type=int, default=None, help="volcano: partitionPolicy partitionSize")
    p.add_argument("--partition-topology-mode", default=None, help="volcano: partition networkTopology mode hard|soft")
    p.add_argument("--partition-highest-tier", type=int, default=None,
                   help="volcano: partition networkTopology highestTierAllowed")
    p.add_argument("--ring-controller", default=None, help="label ring-controller.volcano (Ascend)")


# kind -> (builder module, flag adder); add_common comes first, except for the _STANDALONE kinds.
# The aliases are spec.kinds', the ones `list`/`get --type` accept.
KINDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "pytorchjob": ("arena.spec.pytorchjob", _add_pytorch),
    "tfjob": ("arena.spec.tfjob", _add_tf),
    "mpijob": ("arena.spec.mpijob", _add_mpi),
    "volcanojob": ("arena.spec.volcanojob", _add_volcano),
    "appwrapperjob": ("arena.spec.appwrapperjob", _add_appwrapper),
}
_STANDALONE = frozenset({"volcanojob"})  # upstream: no common flag set
_KIND_NAMES = {alias: kind for kind, aliases in spec_kinds.KINDS.items() for alias in (kind, *aliases)}


# ---------------------------------------------------------------------------------------------------
# `arena submit -f job.yaml`: the kind comes from the file

class _SubmitParser(Parser):
    """`arena submit` itself: puts the file's kind first when `-f` is given without one."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        if args is None:
            return super().parse_known_args(args, namespace)
        tokens, doc = _with_kind(list(args))
        if doc is not None:  # the file read for its kind: `build_spec` reuses it rather than parse it again
            namespace = namespace if namespace is not None else argparse.Namespace()
            namespace._file_doc = doc
        return super().parse_known_args(tokens, namespace)


def _file_arg(tokens: list[str]) -> str | None:
    """The value of -f/--file in `tokens`, if any."""
    for i, tok in enumerate(tokens):
        if tok == "--":
            return None
        if tok in ("-f", "--file"):
            return tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.startswith("--file="):
            return tok.removeprefix("--file=")
        if tok.startswith("-f") and not tok.startswith("--") and len(tok) > 2:
            return tok[2:]
    return None


def _with_kind(tokens: list[str]) -> tuple[list[str], dict[str, Any] | None]:
    """`tokens` with the kind first, and the job file's document when it had to be read for its kind."""
    if not tokens or tokens[0] in _KIND_NAMES or tokens[0] in ("-h", "--help"):
        return tokens, None
    path = _file_arg(tokens)
    if path is None:
        if tokens[0].startswith("-"):
            raise UsageError(f"arena submit: a job kind comes first ({', '.join(KINDS)}), or give -f FILE")
        return tokens, None  # argparse reports the unknown kind
    # `-f FILE KIND ...`: the kind given after the file
    width = 2 if tokens[0] in ("-f", "--file") else 1
    if len(tokens) > width and tokens[width] in _KIND_NAMES:
        return [tokens[width], *tokens[:width], *tokens[width + 1:]], None
    from arena.errors import InvalidSpec
    from arena.spec import jobfile, kinds

    doc = jobfile.load(path)
    kind = doc.get("kind")
    if not kind:
        raise InvalidSpec("kind", f"{path} has no kind: add one, or name it: arena submit KIND -f {path}")
    return [kinds.canonical(str(kind), "kind"), *tokens], doc


def register(sub, name, aliases, help_):  # type: ignore[no-untyped-def]
    p = sub.add_parser(name, aliases=list(aliases), help=help_,
                       formatter_class=RawDescriptionHelpFormatter,
                       epilog="  arena submit KIND [flags] COMMAND...\n"
                              "  arena submit [KIND] -f FILE [flags] [COMMAND...]  (the kind comes from the file)")
    if isinstance(p, Parser):
        p.__class__ = _SubmitParser
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True, parser_class=Parser)
    for kind, (builder, adder) in _wanted_kinds().items():
        article = "an" if kind[0] in "aeiou" else "a"
        kp = kinds.add_parser(kind, aliases=list(spec_kinds.KINDS[kind]), help=f"submit {article} {kind}")
        if kind not in _STANDALONE:
            add_common(kp)
        adder(kp)
        add_global(kp)
        kp.set_defaults(func=run, builder=builder, kind_name=kind, _parser=kp)


def _wanted_kinds() -> dict[str, Any]:
    """Only the kind named on the command line (start-up time); every kind for -f, help or completion."""
    from arena.cli import parser as parser_mod

    argv = parser_mod.ARGV or []
    words = [w for w in argv if not w.startswith("-")]
    if "submit" in words[:1] and len(words) > 1 and not any(w in ("-f", "--file") or w.startswith("--file=")
                                                             for w in argv):
        kind = _KIND_NAMES.get(words[1])
        if kind is not None:
            return {kind: KINDS[kind]}
    return KINDS


# ---------------------------------------------------------------------------------------------------
# Building and submitting

def build_spec(args: argparse.Namespace, namespace: str) -> Any:
    """The JobSpec from the flags (through the kind's builder) or from -f plus the explicit flags.

    `run` has already required --name when there is no file."""
    values = vars(args)
    if args.file:
        from arena.spec import jobfile

        defaults = vars(args._parser.parse_args([]))
        flags = jobfile.explicit_flags(values, defaults)  # merge leaves out jobfile.IGNORED_FLAGS and _private
        file_doc = getattr(args, "_file_doc", None)  # already read by `_with_kind` when -f gave the kind
        file_doc = dict(file_doc) if file_doc is not None else jobfile.load(args.file)
        if flags.get("command"):  # before merge applies --task, whose tasks take the job's command
            file_doc["command"] = flags["command"]
        doc = jobfile.merge(file_doc, flags)
        if not doc.get("namespace"):
            doc["namespace"] = namespace
        return jobfile.to_spec(doc)
    # The builders read only the dests they know, so command-only values (--output, --wait...) pass unread.
    opts = {k: v for k, v in values.items() if not k.startswith("_")}
    opts["namespace"] = namespace
    if args.kind_name == "volcanojob" and opts.get("task"):
        _refuse_single_task_flags(opts)
    return import_module(args.builder).build(**opts)


def _refuse_single_task_flags(opts: dict[str, Any]) -> None:
    """The volcanojob builder ignores the single-task flags next to --task: say so rather than drop them."""
    from arena.errors import InvalidSpec

    for dest in ("task_name", "task_replicas", "task_cpu", "task_memory", "cpu", "memory", "gpus", "device"):
        if opts.get(dest) not in (None, "", []):
            raise InvalidSpec("--" + dest.replace("_", "-"),
                              "cannot be used with --task; give each task's resources in "
                              "--task NAME:REPLICAS:CPU:MEMORY:GPUS (or use -f for devices)")


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
    from arena.errors import InvalidSpec
    from arena.spec import job as jobspec

    if not args.file and not args.name:
        raise InvalidSpec("--name", "is required")  # before anything else is set up
    client = client_for(args)
    spec = build_spec(args, client.namespace)
    if args.dry_run:
        fmt = args.output if args.output in ("json", "yaml") else "yaml"
        if client.engine_name == "kubernetes":  # exactly what would be sent, as kubectl reads it
            from arena.engines.kubernetes.render import to_json, to_yaml

            manifests = client.plan(spec)
            print(to_json(manifests) if fmt == "json" else to_yaml(manifests), end="")
            return 0
        dump(jobspec.to_builtins(spec), fmt)
        return 0
    if spec.image and client.engine_name == "local":
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
