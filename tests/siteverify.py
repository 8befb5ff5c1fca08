"""A local stand-in for Turnstile's and hCaptcha's siteverify: a real HTTP server on 127.0.0.1 in a thread.

It records each form-encoded POST (secret, response, remoteip, sitekey) and answers as `Siteverify.answer` says.
Tests point CAPTCHA_VERIFY_URL at `Siteverify.url`, as a deployment's REFERLOOP_CAPTCHA_VERIFY_URL would.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

ANSWERS = ("pass", "fail", "500", "garbage", "no-success", "bad-secret", "slow")


@dataclass
class Siteverify:
    """`answer` is what the double says next: one of ANSWERS ("slow" answers success after SLOW_SECONDS)."""

    url: str = ""
    answer: str = "pass"
    posts: list[dict[str, str]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)


SLOW_SECONDS = 1.5


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        double = self.server.double
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        double.posts.append(dict(parse_qsl(body)))
        double.content_types.append(self.headers.get("Content-Type", ""))
        status, payload = 200, b""
        if double.answer == "pass":
            payload = json.dumps({"success": True, "error-codes": [], "hostname": "testserver"}).encode()
        elif double.answer == "fail":
            payload = json.dumps({"success": False, "error-codes": ["invalid-input-response"]}).encode()
        elif double.answer == "bad-secret":
            payload = json.dumps({"success": False, "error-codes": ["invalid-input-secret"]}).encode()
        elif double.answer == "no-success":
            payload = json.dumps({"hostname": "testserver"}).encode()
        elif double.answer == "garbage":
            payload = b"<html>Bad gateway, try later</html>"
        elif double.answer == "500":
            status, payload = 500, json.dumps({"success": True}).encode()  # a 500 counts whatever it says
        elif double.answer == "slow":
            time.sleep(SLOW_SECONDS)
            payload = json.dumps({"success": True}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up ("slow"): nobody is listening any more
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    double: Siteverify


@contextmanager
def running_siteverify() -> Iterator[Siteverify]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.double = Siteverify(url=f"http://127.0.0.1:{server.server_address[1]}/siteverify")
    thread = threading.Thread(target=server.serve_forever, name="siteverify-double", daemon=True)
    thread.start()
    try:
        yield server.double
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def unused_port() -> int:
    """A port nothing listens on (bound, then released): a verify URL that can't be reached."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
