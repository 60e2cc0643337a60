"""What planning needs from this machine, gathered once in the submitting process: the planner's `Inputs`.

The allow-listed part of the submitting shell's environment (secrets stay behind), its working directory,
the `--version` text of the executables a kind asks about (which MPI `mpirun` is), and how TensorBoard
starts here. Kept apart from the planner so that planning stays a pure function.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from collections.abc import Mapping

from arena import kinds
from arena.engines.local.plan import Inputs
from arena.spec.job import JobSpec

# The parts of the submitter's environment a replica needs to behave "as in this shell".
BASE_ENV_KEYS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM", "SHELL",
                 "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONPATH", "LD_LIBRARY_PATH",
                 "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                 "CUDA_HOME", "NCCL_DEBUG", "HF_HOME", "HF_HUB_OFFLINE", "TORCH_HOME")


def capture_base_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed variables (and LC_*) of the submitting shell; secrets stay behind."""
    return {k: v for k, v in environ.items() if k in BASE_ENV_KEYS or k.startswith("LC_")}


def gather(spec: JobSpec, environ: Mapping[str, str], cwd: str) -> Inputs:
    base_env = capture_base_env(environ)
    path = base_env.get("PATH")
    probes = {exe: version(exe, path) for exe in kinds.get(spec.kind, "kind").local_probes(spec)}
    return Inputs(base_env=base_env, cwd=cwd, probes=probes,
                  tensorboard=tensorboard_command(path) if spec.tensorboard is not None else [])


@functools.lru_cache(maxsize=16)
def version(exe: str, path: str | None) -> str | None:
    """`<exe> --version` as found on `path` (asked once per process); None when absent or silent."""
    found = shutil.which(exe, path=path)
    if found is None:
        return None
    try:
        return subprocess.run([found, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def tensorboard_command(path: str | None) -> list[str]:
    exe = shutil.which("tensorboard", path=path)
    return [exe] if exe else [sys.executable, "-m", "tensorboard.main"]
