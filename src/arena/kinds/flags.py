"""Flag declarations: what `arena submit KIND` accepts, and where each value goes in the job document.

A `Flag` is one upstream flag (its spelling, the deprecated camelCase spelling, type, default, help)
plus its mapping (`to`): the one place that says how its value edits a job document (the schema of
`arena submit -f`, docs/jobfile.md). CLI flags, SDK keyword arguments and the flags given next to
`-f FILE` all go through that mapping, and the document becomes a JobSpec through
`spec.jobfile.to_spec`: one path from options to a spec, whichever way they came in.

    Flag("--queue", "queue", "queue to submit to", to=Set("scheduling.queue"), example="research")

The flag sets that several kinds share are declared here once (`JOB`, `COMMAND`, `RESOURCES`,
`SUBMIT`, `RUN_POLICY`); each kind module lists the sets it takes plus its own flags.

Only the standard library is imported here: declaring flags costs the CLI's start-up nothing. The
value checks import the spec parsers when a value is actually checked.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from arena.errors import InvalidSpec

if TYPE_CHECKING:
    from arena.spec.draft import Draft

Check = Callable[[Any, str], Any]  # (value, flag name) -> the value to store; raises InvalidSpec naming the flag
Scope = Literal["job", "command", "global"]


# ---------------------------------------------------------------------------------------------------
# Mappings: how a flag's value edits the job document. `paths` are the document paths it writes: an
# error the job file's validation raises at one of them names the flag instead (see `flag_for_path`).
# (Plain classes, not dataclasses: `dataclasses` imports `inspect`, ~10 ms of every command's start.)

class Target(Protocol):
    paths: tuple[str, ...]

    def apply(self, draft: Draft, value: Any) -> None: ...


class Set:
    """The value at a dotted path (`scheduling.queue`); lists replace the file's."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.paths = (path,)

    def apply(self, draft: Draft, value: Any) -> None:
        draft.set(self.path, list(value) if isinstance(value, (list, tuple)) else value)


class Pairs:
    """KEY=VALUE items merged key by key into the mapping at `path` (-e, -l, -a, --selector)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.paths = (path,)

    def apply(self, draft: Draft, value: Any) -> None:
        draft.merge_pairs(self.path, value)


class EachTask:
    """A per-replica resource on every task the kind sizes with the job-wide flags (--cpu, --gpus...)."""

    def __init__(self, key: Literal["cpu", "memory", "gpus", "devices"]) -> None:
        self.key = key
        self.paths = (f"tasks[*].resources.{key}",)

    def apply(self, draft: Draft, value: Any) -> None:
        for task in draft.tasks():
            if draft.kind.takes_job_resource(str(task.get("name")), self.key):
                draft.set_resource(task, self.key, value)


class OnRoles:
    """A task field (`image`, `port`, `resources.cpu`...) on the named roles that the job has."""

    def __init__(self, roles: tuple[str, ...], key: str) -> None:
        self.roles = roles
        self.key = key
        self.paths = tuple(f"tasks[{role}].{key}" for role in roles)

    def apply(self, draft: Draft, value: Any) -> None:
        for role in self.roles:
            task = draft.task(role)
            if task is None:
                continue
            if self.key.startswith("resources."):
                draft.set_resource(task, self.key.removeprefix("resources."), value)
            else:
                task[self.key] = value


class Apply:
    """A mapping with rules of its own (roles that appear, tasks parsed from a flag...), in its kind's module."""

    def __init__(self, fn: Callable[[Draft, Any], None], paths: tuple[str, ...] = ()) -> None:
        self.fn = fn
        self.paths = paths

    def apply(self, draft: Draft, value: Any) -> None:
        self.fn(draft, value)


# ---------------------------------------------------------------------------------------------------
# The declaration

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Need:
    """A context a flag only means something in: given outside it, the flag is refused, never ignored."""

    def __init__(self, rule: str, holds: Callable[[Draft], bool], opts: Mapping[str, Any] = _EMPTY) -> None:
        self.rule = rule  # the refusal, e.g. "needs --tensorboard"
        self.holds = holds
        self.opts = opts  # flag values that create the context


class Flag:
    """One flag of `arena submit KIND`, and the SDK keyword argument of the same `dest`.

    A declaration is itself: two flags are equal only when they are the same declaration.
    """

    def __init__(self, name: str, dest: str, help: str, *, to: Target | None = None, short: str | None = None,
                 camel: str | None = None, aliases: tuple[str, ...] = (), keywords: tuple[str, ...] = (),
                 type: type = str, repeat: bool = False, switch: bool = False, tri_state: bool = False,
                 positional: bool = False, choices: tuple[str, ...] = (), metavar: str | None = None,
                 default: Any = None, check: Check | None = None, phase: int = 1, needs: tuple[Need, ...] = (),
                 scope: Scope = "job", example: Any = None, example_with: Mapping[str, Any] = _EMPTY,
                 bare: Any = None) -> None:
        self.name = name  # upstream's spelling, e.g. "--working-dir"; the positional is named after its dest
        self.dest = dest  # argparse dest and SDK keyword
        self.help = help
        self.to = to  # the mapping into the job document; None: about the command, never part of the job
        self.short = short  # "-e"
        self.camel = camel  # upstream's deprecated camelCase spelling, e.g. "--workingDir"
        self.aliases = aliases  # other accepted spellings, e.g. "--mpi-api"
        self.keywords = keywords  # other SDK keyword names, e.g. "plugins"
        self.type = type  # str, int, float or bool
        self.repeat = repeat  # may be given several times: the value is a list
        self.switch = switch  # --flag turns something on (store_true)
        self.tri_state = tri_state  # unset / --flag / --flag=false: False is a choice, not "not given"
        self.positional = positional  # the trailing COMMAND
        self.choices = choices  # only for command flags (-o); job values are checked by `check`
        self.metavar = metavar
        self.default = default  # what "not given" means, shown in --help
        self.check = check
        # Applied in phase order, then declared order: -1 sets a context other flags need (--inner-type),
        # 0 shapes the roles (so that the resource flags reach every role), 1 is the rest. A flag's needs
        # are checked just before it applies.
        self.phase = phase
        self.needs = needs
        self.scope = scope
        self.example = example  # a valid value that differs from the default (docs; the flag coverage test)
        self.example_with = example_with  # other flags the example needs to matter
        # The value of the flag given without one (upstream's bool form of a flag that also takes a value here:
        # a bare `--queue` is kube-queue's suspend switch, `--queue NAME` a queue). None: a value is required.
        self.bare = bare

    def __repr__(self) -> str:
        return f"<flag {self.name}>"

    def replace(self, **changes: Any) -> Flag:
        """A copy with some fields changed (a shared flag with a kind's own context)."""
        return Flag(**{**vars(self), **changes})

    @property
    def command_only(self) -> bool:
        """About the command itself (-f, --wait, -o...): never part of the job."""
        return self.scope == "command"

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every option string, as argparse gets them (upstream spelling first, camelCase last)."""
        return tuple(s for s in (self.short, self.name, *self.aliases, self.camel) if s)

    @property
    def help_text(self) -> str:
        shown = self.default if not isinstance(self.default, bool) else str(self.default).lower()
        if self.default is None or "default" in self.help:
            return self.help
        return f"{self.help} (default: {shown})"

    def value(self, raw: Any) -> Any:
        """The value to store: converted to the flag's type and checked, errors naming the flag."""
        if self.switch or self.tri_state:
            return bool(raw)
        if self.repeat or self.positional:
            items = [raw] if isinstance(raw, (str, int, float)) else list(raw)
            value: Any = [self._typed(item) for item in items]
        else:
            value = self._typed(raw)
        return self.check(value, self.name) if self.check is not None else value

    def _typed(self, raw: Any) -> Any:
        if self.type is int:
            return whole_number(raw, self.name)
        if self.type is float:
            try:
                return float(raw)
            except (TypeError, ValueError):
                raise InvalidSpec(self.name, f"{raw!r} must be a number") from None
        return raw if isinstance(raw, str) else str(raw)


def flag_for_path(flags: Sequence[Flag], path: str) -> Flag | None:
    """The flag that writes `path` (tasks named by role: `tasks[ps].resources.cpu`), the most specific first."""
    best: tuple[int, Flag] | None = None
    for flag in flags:
        for pattern in flag.to.paths if flag.to is not None else ():
            if _path_matches(pattern, path):
                rank = len(pattern) + (1000 if "*" not in pattern else 0)  # a role's own flag beats --cpu
                if best is None or rank > best[0]:
                    best = (rank, flag)
    return best[1] if best else None


def _path_matches(pattern: str, path: str) -> bool:
    """`tasks[*].resources.cpu` matches `tasks[ps].resources.cpu`; a list path matches its items too."""
    p_parts, parts = pattern.split("."), path.split(".")
    if len(p_parts) != len(parts):
        return False
    for i, (want, got) in enumerate(zip(p_parts, parts)):
        last = i == len(parts) - 1
        if last and got != want and got.startswith(want + "[") and got.endswith("]") and got[len(want) + 1:-1].isdigit():
            continue  # `scheduling.policies[0]` is under `scheduling.policies`
        if want.endswith("[*]") and got.startswith(want[:-2]) and got.endswith("]"):
            continue
        if want != got:
            return False
    return True


# ---------------------------------------------------------------------------------------------------
# Value checks: each names the flag it checks (the spec parsers are imported only when a value is checked)

def whole_number(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidSpec(field, f"{value!r} must be a whole number")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.lstrip("+-").isdigit():
        return int(text)
    raise InvalidSpec(field, f"{value!r} must be a whole number")


def non_negative(value: int, field: str) -> int:
    if value < 0:
        raise InvalidSpec(field, "must be 0 or more")
    return value


def positive(value: int, field: str) -> int:
    if value < 1:
        raise InvalidSpec(field, "must be 1 or more")
    return value


def port(value: int, field: str) -> int:
    from arena.spec.common import check_port

    return check_port(value, field)


def cpu(value: str, field: str) -> str:
    from arena.spec import quantity

    quantity.cpu_milli(value, field)
    return value


def memory(value: str, field: str) -> str:
    from arena.spec import quantity

    quantity.memory_bytes(value, field)
    return value


def gpus(value: str, field: str) -> int:
    from arena.spec import quantity

    return non_negative(quantity.count(value, field), field)


def devices(items: list[str], field: str) -> dict[str, int]:
    from arena.spec import quantity

    out: dict[str, int] = {}
    for item in items:
        key, sep, count = item.partition("=")
        if not sep or "/" not in key:
            raise InvalidSpec(field, f"{item!r} must be vendor/resource=N, e.g. amd.com/gpu=1")
        out[key] = quantity.count(count, field)
    return out


def duration(value: str, field: str) -> str:
    from arena.spec import duration as durations

    durations.parse_seconds(value, field)
    return value


def pairs(items: list[str], field: str) -> list[str]:
    from arena.spec.keyvalue import split_pair

    for item in items:
        split_pair(item, field)
    return items


def one_of(*choices: str) -> Check:
    def check(value: str, field: str) -> str:
        if value not in choices:
            raise InvalidSpec(field, f"{value!r} must be one of {', '.join(choices)}")
        return value

    return check


def job_name(value: str, field: str) -> str:
    from arena.spec.names import check_job_name

    return check_job_name(value, field)


def dns_label(value: str, field: str) -> str:
    from arena.spec.names import check_dns_label

    return check_dns_label(value, field)


def dns_subdomains(items: list[str], field: str) -> list[str]:
    from arena.spec.names import check_dns_subdomain

    return [check_dns_subdomain(item, field) for item in items]


def seconds(value: str, field: str) -> int:
    """A duration (`90s`, `1h`) as whole seconds, for fields the operators read as seconds."""
    from arena.spec import duration as durations

    return int(durations.parse_seconds(value, field))


def nproc(value: str, field: str) -> str:
    from arena.spec.pytorchjob import check_nproc

    return check_nproc(value, field) or value


# ---------------------------------------------------------------------------------------------------
# Contexts

def _tensorboard_on(draft: Draft) -> bool:
    return bool(draft.given.get("tensorboard")) or draft.doc.get("tensorboard") not in (None, False)


TENSORBOARD_ON = Need("needs --tensorboard", _tensorboard_on, {"tensorboard": True})


def has_role(role: str, how: str, opts: Mapping[str, Any]) -> Need:
    """The role must be part of the job (--ps-cpu needs a ps): without it the flag is refused, not ignored."""
    return Need(f"needs a {role} role ({how})", lambda draft: draft.task(role) is not None, opts)


def _set_tensorboard(draft: Draft, on: bool) -> None:
    if on and not isinstance(draft.doc.get("tensorboard"), dict):
        draft.doc["tensorboard"] = {}


# kube-queue's switch (upstream's bool --queue): the job is created suspended until kube-queue admits it.
KUBE_QUEUE_SUSPEND = "scheduling.x-k8s.io/suspend"
_TRUE_WORDS = ("true", "True", "TRUE", "1")
_FALSE_WORDS = ("false", "False", "FALSE", "0")


def queue_value(value: Any, field: str) -> Any:
    """`--queue`: upstream's bool (bare, `=true`, `=false`) or a queue name; True/False or the checked name."""
    text = str(value)
    if value is True or text in _TRUE_WORDS:
        return True
    if value is False or text in _FALSE_WORDS:
        return False
    return dns_label(text, field)


def _queue(draft: Draft, value: Any) -> None:
    """True: kube-queue's suspend annotation (upstream); False: nothing; a name: the queue the job waits in."""
    if value is True:
        draft.merge_pairs("annotations", [f"{KUBE_QUEUE_SUSPEND}=true"])
    elif value is not False:
        draft.set("scheduling.queue", value)


# ---------------------------------------------------------------------------------------------------
# The shared sets

NAME = Flag("--name", "name", "job name: DNS-1123 label, at most 49 characters (required without -f)",
            to=Set("name"), check=job_name, example="renamed")
NAMESPACE = Flag("--namespace", "namespace", "namespace (default: config file, else 'default')", short="-n",
                 to=Set("namespace"), check=dns_label, scope="global", example="team")
COMMAND_ARG = Flag("command", "command", "the command to run (joined with spaces, run with --shell -c)",
                   to=Set("command"), positional=True, phase=0, example=["python", "other.py"])

# Identity, metadata, placement, volumes, code sync and TensorBoard: upstream's SubmitArgsBuilder, every kind.
JOB: tuple[Flag, ...] = (
    NAME,
    NAMESPACE,
    Flag("--image", "image", "container image (the local engine runs in this environment)", to=Set("image"),
         example="img:1"),
    Flag("--image-pull-policy", "image_pull_policy", "image pull policy: Always|IfNotPresent|Never (cluster)",
         to=Set("image_pull_policy"), check=one_of("Always", "IfNotPresent", "Never"), default="Always",
         example="IfNotPresent"),
    Flag("--env", "env", "environment variable K=V (repeatable)", short="-e", repeat=True, to=Pairs("envs"),
         check=pairs, example=["A=1"]),
    Flag("--working-dir", "working_dir", "working directory of every replica (default: the current directory; "
         "/root on a cluster)", camel="--workingDir", to=Set("working_dir"), example="/work"),
    Flag("--label", "label", "label k=v (repeatable)", short="-l", repeat=True, to=Pairs("labels"), check=pairs,
         example=["team=ml"]),
    Flag("--annotation", "annotation", "annotation k=v (repeatable)", short="-a", repeat=True,
         to=Pairs("annotations"), check=pairs, example=["note=x"]),
    Flag("--shell", "shell", "shell that runs the command with -c", to=Set("shell"), default="sh", example="bash"),
    Flag("--priority", "priority", "priority class (low, normal, high or one from the config)", short="-p",
         to=Set("scheduling.priority"), example="high"),
    Flag("--queue", "queue", "queue to submit to; bare (or =true), upstream's kube-queue switch: the job is created "
         "suspended until kube-queue admits it", to=Apply(_queue, ("scheduling.queue",)), check=queue_value,
         default="default", bare=True, example="research"),
    Flag("--toleration", "toleration", "toleration (kubernetes engine; repeatable)", repeat=True,
         to=Set("scheduling.tolerations"), example=["gpu=true:NoSchedule"]),
    Flag("--selector", "selector", "node selector k=v (kubernetes engine; repeatable)", repeat=True,
         to=Pairs("scheduling.node_selector"), check=pairs, example=["disk=ssd"]),
    Flag("--data", "data", "data volume NAME:/mount/path (repeatable)", short="-d", repeat=True, to=Set("data"),
         example=["vol:/data"]),
    Flag("--data-dir", "data_dir", "host directory HOST[:MOUNT] (repeatable)", camel="--dataDir", repeat=True,
         to=Set("data_dirs"), example=["/tmp:/mnt/tmp"]),
    Flag("--sync-mode", "sync_mode", "code sync: git or rsync", camel="--syncMode", to=Set("sync.mode"),
         example="git", example_with={"sync_source": "https://example.com/repo.git"}),
    Flag("--sync-source", "sync_source", "code sync source", camel="--syncSource", to=Set("sync.source"),
         example="https://example.com/repo.git", example_with={"sync_mode": "git"}),
    Flag("--sync-image", "sync_image", "code sync image (cluster)", camel="--syncImage", to=Set("sync.image"),
         example="git:1", example_with={"sync_mode": "git", "sync_source": "https://example.com/repo.git"}),
    Flag("--tensorboard", "tensorboard", "start TensorBoard for the job", switch=True,
         to=Apply(_set_tensorboard, ("tensorboard",)), example=True),
    Flag("--tensorboard-image", "tensorboard_image", "TensorBoard image (cluster)", camel="--tensorboardImage",
         to=Set("tensorboard.image"), needs=(TENSORBOARD_ON,), example="tb:1"),
    Flag("--logdir", "logdir", "TensorBoard log directory", to=Set("tensorboard.logdir"), default="/training_logs",
         needs=(TENSORBOARD_ON,), example="/logs"),
    Flag("--tensorboard-ttl", "tensorboard_ttl", "keep TensorBoard this long after the job finished (e.g. 1h)",
         to=Set("tensorboard.ttl"), check=duration, needs=(TENSORBOARD_ON,), example="1h"),
    Flag("--share-memory", "share_memory", "size of the memory-backed /dev/shm of every replica on a cluster "
         "(default: 2Gi, as upstream; 0: none); locally the machine's /dev/shm", to=Set("share_memory"),
         check=memory, example="1Gi"),
    Flag("--image-pull-secret", "image_pull_secret", "Secret to pull images from a private registry (cluster; "
         "repeatable; default: imagePullSecrets of the arena config)", repeat=True, to=Set("image_pull_secrets"),
         check=dns_subdomains, example=["regcred"]),
    Flag("--config-file", "config_file", "host file mounted in every replica, HOST_FILE[:CONTAINER_FILE] (cluster: "
         "a ConfigMap made at submit; locally the host file itself; repeatable)", repeat=True,
         to=Set("config_files"), example=["/etc/hostname:/etc/app/hostname"]),
    Flag("--rdma", "rdma", "RDMA: an rdma/hca device and the IPC_LOCK capability per replica (cluster)", switch=True,
         to=Set("rdma"), example=True),
    Flag("--hostNetwork", "host_network", "use the node's network namespace (cluster)", aliases=("--host-network",),
         switch=True, to=Set("host_network"), example=True),
    Flag("--hostIPC", "host_ipc", "use the node's IPC namespace (cluster)", aliases=("--host-ipc",), switch=True,
         to=Set("host_ipc"), example=True),
    Flag("--hostPID", "host_pid", "use the node's PID namespace (cluster)", aliases=("--host-pid",), switch=True,
         to=Set("host_pid"), example=True),
)

# About the command, never part of the job: declared so that the parser has them and merging skips them.
COMMAND: tuple[Flag, ...] = (
    Flag("--file", "file", "job file (docs/jobfile.md); flags given explicitly override its values", short="-f",
         metavar="FILE", scope="command"),
    Flag("--wait", "wait", "block until the job finishes, with a live status line", switch=True, scope="command"),
    Flag("--wait-timeout", "wait_timeout", "seconds to wait at most with --wait", type=float, scope="command"),
    Flag("--dry-run", "dry_run", "print the resolved job and do not submit it", switch=True, scope="command"),
    Flag("--output", "output", "output format: yaml|json|name", short="-o", choices=("yaml", "json", "name"),
         scope="command"),
    COMMAND_ARG,
)

# The global flags every command takes (cli.parser.add_global), other than -n: never part of the job.
# (`arena.cli.globalflags.FLAGS` declares them; kept here as names so that the registry never imports the CLI.)
GLOBAL_DESTS = frozenset({"engine", "config", "context", "arena_namespace", "loglevel", "pprof", "trace",
                          "helm_binary"})

RESOURCES: tuple[Flag, ...] = (
    Flag("--gpus", "gpus", "GPUs per replica", to=EachTask("gpus"), check=gpus, default=0, example="1"),
    Flag("--device", "device", "extended resource vendor/name=N (repeatable)", repeat=True, to=EachTask("devices"),
         check=devices, example=["amd.com/gpu=1"]),
    Flag("--cpu", "cpu", "CPU request per replica, e.g. 2 or 500m", to=EachTask("cpu"), check=cpu, example="2"),
    Flag("--memory", "memory", "memory request per replica, e.g. 4Gi", to=EachTask("memory"), check=memory,
         example="4Gi"),
)

# The rest of upstream's SubmitArgsBuilder (every kind but volcanojob); --workers is each kind's own.
SUBMIT: tuple[Flag, ...] = (
    Flag("--retry", "retry", "restarts allowed before the job fails (backoffLimit)", type=int,
         to=Set("run_policy.backoff_limit"), check=non_negative, default=0, example=2),
    Flag("--gang", "gang", "gang scheduling on the cluster (always on locally)", switch=True,
         to=Set("scheduling.gang"), example=True),
    Flag("--scheduler", "scheduler", "schedulerName on the cluster", to=Set("scheduling.scheduler_name"),
         example="volcano"),
    Flag("--kueue-queue", "kueue_queue", "Kueue LocalQueue (kubernetes engine)", to=Set("scheduling.kueue_queue"),
         example="team-a"),
)


def run_policy(clean_default: str = "Running", camel: str | None = None) -> tuple[Flag, ...]:
    """The Kubeflow run policy flags; `clean_default` is the kind's --clean-task-policy default, `camel` its
    deprecated spelling where the kind has one (tfjob's --cleanTaskPolicy)."""
    return (
        Flag("--clean-task-policy", "clean_task_policy", "None|Running|All", to=Set("run_policy.clean_pod_policy"),
             camel=camel, check=one_of("None", "Running", "All"), default=clean_default,
             example="Running" if clean_default == "None" else "None"),
        Flag("--running-timeout", "running_timeout", "fail the job after running this long",
             to=Set("run_policy.active_deadline_seconds"), check=duration, example="1h"),
        Flag("--ttl-after-finished", "ttl_after_finished", "delete the job this long after it finished",
             to=Set("run_policy.ttl_seconds_after_finished"), check=duration, example="10m"),
    )


RUN_POLICY = run_policy()


def workers(to: Callable[[Draft, int], None], check: Check, paths: tuple[str, ...] = ("tasks",),
            needs: tuple[Need, ...] = (), help: str = "number of workers") -> Flag:
    """--workers: every kind but volcanojob takes it, each mapping it onto its own roles."""
    return Flag("--workers", "workers", help, type=int, to=Apply(to, paths), check=check, default=1, phase=0,
                needs=needs, example=2)


def path_of(flag_name: str, flags: Sequence[Flag] = (*JOB, *RESOURCES, *SUBMIT, *RUN_POLICY)) -> str:
    """The document path a shared flag writes: where a job file's value of it lives (for error names)."""
    for flag in flags:
        if flag.name == flag_name and flag.to is not None and flag.to.paths:
            return flag.to.paths[0]
    return flag_name
