"""The CPU `tritonserver` that the `nvidia-pytriton` wheel ships, and what it needs to run outside PyTriton.

The wheel holds a whole Triton Inference Server under `pytriton/tritonserver/`:

    bin/tritonserver                       the server (RPATH finds `nvidia_pytriton.libs` beside `pytriton/`)
    backends/python/libtriton_python.so    the python backend, the only backend it ships
    python_backend_stubs/3.X/triton_python_backend_stub
                                           one stub per Python version; the backend runs it from its own
                                           directory, so a backend directory must be put together per Python
    caches/local/                          the response cache

The stub embeds the Python that runs the models' `model.py` (the one found as `python3` on PATH, so a venv's
`bin` first on PATH makes it that venv), and its tensors go through that Python's numpy with an ABI from before
numpy 2: with numpy 2 models load, then answer garbage or "output tensor shape does not match". That is why
the wheel pins numpy<2, and why it usually lives in a venv of its own, named to Arena by `ARENA_TRITON_PYTHON`.

Standard library only: used by `arena serve` in the submitting process and by the replica's launcher.
"""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: The Python whose nvidia-pytriton (and numpy) serve Triton models, when it is not Arena's own.
ENV = "ARENA_TRITON_PYTHON"
INSTALL = ("python3 -m venv ~/triton && ~/triton/bin/pip install nvidia-pytriton, "
           f"then export {ENV}=~/triton/bin/python")

# Asked of a Python without importing anything heavy: where pytriton is, its numpy, its version and libpython.
_PROBE = """\
import importlib.metadata as m, importlib.util as u, json, sys, sysconfig
def ver(n):
    try:
        return m.version(n)
    except m.PackageNotFoundError:
        return None
s = u.find_spec("pytriton")
print(json.dumps({"python": "%d.%d" % sys.version_info[:2],
                  "pytriton": list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else None,
                  "wheel": ver("nvidia-pytriton"), "numpy": ver("numpy"),
                  "libdir": sysconfig.get_config_var("LIBDIR") or ""}))
"""


@dataclass(frozen=True)
class PythonInfo:
    """What a Python offers the python backend."""

    python: str  # the interpreter, as given (a venv's bin/python: not resolved, so the venv stays the venv)
    version: str  # "3.11"
    pytriton: str | None  # the pytriton package's directory, when installed there
    wheel: str | None  # nvidia-pytriton's version
    numpy: str | None
    libdir: str  # where its libpython3.X.so lives, when it was built shared


def probe(python: str) -> PythonInfo:
    """Ask `python` (one short subprocess, no numpy import) what it has."""
    try:
        out = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True)
        data = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise LookupError(f"{python} did not run ({exc.__class__.__name__})") from None
    return PythonInfo(python=python, version=data["python"], pytriton=data["pytriton"], wheel=data["wheel"],
                      numpy=data["numpy"], libdir=data["libdir"])


def root_of(server: str) -> Path | None:
    """The wheel's `pytriton/tritonserver` when `server` is (a link to) its `bin/tritonserver`, else None."""
    real = Path(server).resolve()
    root = real.parent.parent
    if real.parent.name == "bin" and root.name == "tritonserver" and (root / "python_backend_stubs").is_dir():
        return root
    return None


def server_of(pytriton: str) -> Path | None:
    exe = Path(pytriton) / "tritonserver" / "bin" / "tritonserver"
    return exe if exe.is_file() else None


def libs_of(root: Path) -> Path:
    """The wheel's bundled shared libraries (auditwheel's `nvidia_pytriton.libs`, beside `pytriton/`)."""
    return root.parent.parent / "nvidia_pytriton.libs"


def stub_of(root: Path, version: str) -> Path:
    return root / "python_backend_stubs" / version / "triton_python_backend_stub"


def owner_python(root: Path) -> str | None:
    """The venv Python whose site-packages hold this wheel (`<venv>/lib/python3.X/site-packages/pytriton`)."""
    site = root.parent.parent
    if site.name != "site-packages":
        return None
    exe = site.parent.parent.parent / "bin" / "python"
    return str(exe) if exe.is_file() else None


def problem(info: PythonInfo, root: Path) -> str | None:
    """Why `info`'s Python cannot run the python backend of the wheel at `root`; None when it can."""
    stubs = root / "python_backend_stubs"
    if not stubs.is_dir():
        return f"{root} has no python backend stubs: not a tritonserver of the nvidia-pytriton wheel"
    if not stub_of(root, info.version).is_file():
        have = sorted((p.name for p in stubs.iterdir()), key=lambda v: [int(x) for x in v.split(".") if x.isdigit()])
        return (f"the wheel has python backend stubs for Python {', '.join(have)}, not for {info.python} "
                f"(Python {info.version})")
    if info.numpy is None:
        return f"{info.python} has no numpy, which the python backend needs (numpy<2)"
    if int(info.numpy.split(".", 1)[0]) >= 2:
        return (f"{info.python} has numpy {info.numpy}; the python backend of this tritonserver is built for "
                "numpy<2 and answers garbage with numpy 2")
    return None


def backend_dir(root: Path, version: str, where: Path) -> Path:
    """A backend directory for Python `version` under `where`: links to the wheel's backends, with the stub of
    that version beside the python backend. Put together once (in a temporary name, then renamed, so that
    replicas starting at the same time never see half of it) and reused by later starts."""
    target = where / f"backends-py{version}"
    if target.is_dir():
        return target
    where.mkdir(parents=True, exist_ok=True)
    tmp = where / f".backends-py{version}.{os.getpid()}"
    for backend in sorted((root / "backends").iterdir()):
        if not backend.is_dir():
            continue
        (tmp / backend.name).mkdir(parents=True)
        for item in sorted(backend.iterdir()):
            if item.name != "__pycache__":
                (tmp / backend.name / item.name).symlink_to(item)
    (tmp / "python" / "triton_python_backend_stub").symlink_to(stub_of(root, version))
    try:
        tmp.rename(target)
    except OSError:  # another replica's is there already
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target
