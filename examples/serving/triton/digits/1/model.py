"""The digits classifier on Triton's python backend: the trained network's weights, run with numpy.

The python backend's Python needs no torch: `export.py` (run where torch is) writes the weights of the
TorchScript model that examples/pytorch/ddp_digits.py saves into `digits.npz` beside this file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Linear layers with ReLU between them, then argmax: the network `ddp_digits.py` trains."""

    def initialize(self, args: dict[str, Any]) -> None:
        here = Path(args["model_repository"]) / args["model_version"]
        with np.load(here / "digits.npz") as weights:
            count = len(weights.files) // 2
            self.layers = [(weights[f"weight_{i}"], weights[f"bias_{i}"]) for i in range(count)]
        config = json.loads(args["model_config"])
        self.output = config["output"][0]["name"]

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = images.astype(np.float32)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w.T + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x.argmax(axis=1).astype(np.int64)

    def execute(self, requests: list[Any]) -> list[Any]:
        answers = []
        for request in requests:
            images = pb_utils.get_input_tensor_by_name(request, "input-0").as_numpy()  # [N, 64]: Triton checks
            answers.append(pb_utils.InferenceResponse([pb_utils.Tensor(self.output, self.predict(images))]))
        return answers
