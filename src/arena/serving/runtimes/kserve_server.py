"""KServe's Python model server (`kserve.ModelServer`) serving a model from a local directory.

    python -m arena.serving.runtimes.kserve_server --model_name digits --model_format sklearn \\
        --model_dir /models/digits --http_port 8080

What `arena serve kserve --model-format F --storage-uri file://DIR` runs on the local engine: the `kserve`
package's own server (Open Inference Protocol v1 `/v1/models/NAME:predict` and v2 `/v2/models/NAME/infer`,
health at `/v2/health/ready`), with a model class that loads the format as KServe's runtimes do:

- `sklearn`: `model.joblib`, `model.pkl` or `model.pickle` (KServe's sklearnserver's file names), or the
  only such file in DIR; `predict` is the estimator's;
- `pytorch`: a TorchScript file `model.pt` (or the only `.pt`/`.pth` in DIR); inputs become a float32
  tensor, the outputs are returned as they come (a cluster's KServe serves pytorch through TorchServe's
  model archives instead).

Started by the replica's shim; a model that cannot be loaded is one line on stderr and exit 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

FILES = {"sklearn": ("model.joblib", "model.pkl", "model.pickle"), "pytorch": ("model.pt", "model.pth")}
SUFFIXES = {"sklearn": (".joblib", ".pkl", ".pickle"), "pytorch": (".pt", ".pth")}


def model_file(model_dir: str, fmt: str) -> Path:
    """The model's file in `model_dir` (or `model_dir` itself when it is a file)."""
    root = Path(model_dir)
    if root.is_file():
        return root
    if not root.is_dir():
        raise SystemExit(f"arena: the model directory {model_dir} does not exist")
    for name in FILES[fmt]:
        if (root / name).is_file():
            return root / name
    found = [p for p in sorted(root.iterdir()) if p.suffix in SUFFIXES[fmt]]
    if len(found) == 1:
        return found[0]
    raise SystemExit(f"arena: no {fmt} model in {model_dir} (expected {' or '.join(FILES[fmt])})")


def build(name: str, model_dir: str, fmt: str) -> Any:
    import kserve
    import numpy as np
    from kserve.utils.utils import get_predict_input, get_predict_response

    class LocalModel(kserve.Model):  # type: ignore[misc]
        """One model of `fmt` from `model_dir`, loaded once at start."""

        def __init__(self) -> None:
            super().__init__(name)
            self.fmt = fmt
            self.model: Any = None

        def load(self) -> bool:
            path = model_file(model_dir, fmt)
            if fmt == "sklearn":
                import joblib

                self.model = joblib.load(path)
            else:
                import torch

                self.model = torch.jit.load(str(path), map_location="cpu")
                self.model.eval()
            self.ready = True
            return True

        def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
            instances = get_predict_input(payload)
            if self.fmt == "sklearn":
                result = self.model.predict(instances)
            else:
                import torch

                with torch.no_grad():
                    out = self.model(torch.as_tensor(np.asarray(instances), dtype=torch.float32))
                result = out.numpy()
            return get_predict_response(payload, np.asarray(result), self.name)

    return LocalModel()


def main(argv: list[str] | None = None) -> int:
    import kserve

    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser], conflict_handler="resolve")
    parser.add_argument("--model_name", default="model", help="the name the model is served under")
    parser.add_argument("--model_dir", required=True, help="the directory (or file) holding the model")
    parser.add_argument("--model_format", choices=sorted(FILES), required=True)
    args, _ = parser.parse_known_args(argv)
    model = build(args.model_name, args.model_dir, args.model_format)
    model.load()
    kserve.ModelServer(http_port=args.http_port, enable_grpc=False, workers=1).start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())
