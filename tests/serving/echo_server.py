"""A trivial model server for the serving tests: answers every request with who answered it.

    PORT=8080 python echo_server.py

GET /healthz is its readiness endpoint; any other GET or POST answers `{"replica", "version", "pid", "n"}`
(n: the size of the request body). HTTP/1.1 keep-alive, one write per answer. Standard library only.
"""
from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one send per answer: no Nagle + delayed-ACK stall on keep-alive connections

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._answer({"ok": True})
            return
        self._answer(self._who(0))

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            n = 0
            while size := int(self.rfile.readline().split(b";")[0], 16):
                n += len(self.rfile.read(size + 2)) - 2
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
        else:
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
        self._answer(self._who(n))

    def _who(self, n: int) -> dict:
        return {"replica": os.environ.get("ARENA_POD_NAME"), "version": os.environ.get("SERVING_VERSION"),
                "pid": os.getpid(), "n": n, "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", "")}


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    print(f"echo server on {os.environ['PORT']}", flush=True)
    server.serve_forever()
