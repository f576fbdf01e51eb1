"""An HTTPS webhook receiver for the notification tests: a throwaway CA (the local system's own helper), the
requests it received, and ways to misbehave (an HTTP status, or never answering until it is closed)."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from kops_local.kube.tls import issue_certificate


@dataclass(frozen=True)
class Received:
    path: str
    content_type: str
    body: bytes


class WebhookServer:
    """`status`: what every POST is answered; `hang`: read the request, then answer nothing until close()."""

    def __init__(self, directory: Path, *, status: int = 200, hang: bool = False) -> None:
        certificate = issue_certificate("127.0.0.1", "webhook")
        self.ca_bundle = directory / "webhook-ca.pem"
        self.ca_bundle.write_text(certificate.ca_pem)
        self.received: list[Received] = []
        self._arrived = threading.Condition()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with server._arrived:
                    server.received.append(Received(self.path, self.headers.get("Content-Type", ""), body))
                    server._arrived.notify_all()
                if hang:
                    server._closing.wait()
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = certificate.server_context().wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="webhook-server", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 120.0) -> list[Received]:
        """The first `count` requests; `timeout` is a hang guard."""
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout), "webhook hung"
            return list(self.received[:count])

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> WebhookServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
