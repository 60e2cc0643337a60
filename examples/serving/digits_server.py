"""A small custom model server for the digits classifier that examples/pytorch/ddp_digits.py trains.

    arena serve custom --name digits --restful-port 8080 --replicas 2 \
        "python examples/serving/digits_server.py --model-dir models/digits"

Listens on $PORT (set by Arena for every replica), loads DIR/model.pt (TorchScript) once, and answers
    POST /predict   {"instances": [[64 pixel values 0..1], ...]}  ->  {"predictions": [digit, ...]}
    GET  /healthz   200 once the model is loaded (point --readiness-probe-action httpGet at it)
The request and answer bodies are KServe's V1 protocol's, so the same curl works against both servers.
"""
from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch

MODEL: torch.jit.ScriptModule | None = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per answer

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.answer(200 if MODEL is not None else 503, {"ready": MODEL is not None})
        else:
            self.answer(404, {"error": "POST /predict"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/predict" or MODEL is None:
            self.answer(404, {"error": "POST /predict"})
            return
        try:
            instances = json.loads(body)["instances"]
            with torch.no_grad():
                digits = MODEL(torch.tensor(instances, dtype=torch.float32)).tolist()
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            self.answer(400, {"error": str(exc)})
            return
        self.answer(200, {"predictions": digits, "replica": os.environ.get("ARENA_POD_NAME", "")})


def main() -> None:
    global MODEL
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", default="models/digits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    MODEL = torch.jit.load(os.path.join(args.model_dir, "model.pt"), map_location="cpu").eval()
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"digits server on port {port}, model {args.model_dir}/model.pt", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
