"""Make a Triton model repository for the digits classifier from the TorchScript model ddp_digits.py saved.

    python examples/serving/triton/export.py --model-dir models/digits --repository models/triton

copies `digits/` (config.pbtxt, 1/model.py) from beside this script into REPOSITORY and writes the network's
weights to REPOSITORY/digits/1/digits.npz, so that the python backend runs the model with numpy alone (the
nvidia-pytriton wheel's python backend needs numpy<2, which is kept in a venv of its own without torch).
Run it where torch is: the Python that trained the model.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def linear_weights(model: torch.jit.ScriptModule) -> dict[str, np.ndarray]:
    """weight_i/bias_i of each linear layer, in order (ddp_digits.py's network: Linear, ReLU, Linear)."""
    state = model.state_dict()
    weights = [k for k in state if k.endswith(".weight")]
    out: dict[str, np.ndarray] = {}
    for i, key in enumerate(weights):
        out[f"weight_{i}"] = state[key].detach().numpy().astype(np.float32)
        out[f"bias_{i}"] = state[key.removesuffix(".weight") + ".bias"].detach().numpy().astype(np.float32)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", required=True, help="the directory holding model.pt")
    parser.add_argument("--repository", required=True, help="the model repository to write (created)")
    args = parser.parse_args()
    source = Path(args.model_dir) / "model.pt"
    if not source.is_file():
        raise SystemExit(f"export.py: --model-dir: {source} does not exist (train with ddp_digits.py --save)")
    model = torch.jit.load(str(source), map_location="cpu")
    target = Path(args.repository) / "digits"
    shutil.copytree(HERE / "digits", target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    np.savez(target / "1" / "digits.npz", **linear_weights(model))
    print(f"wrote {target}", flush=True)


if __name__ == "__main__":
    main()
