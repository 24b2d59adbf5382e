"""A real HTTP server on 127.0.0.1 for the tests (threaded, quiet): the source and fault suites'
cameras and web pages are subclasses that say what their paths serve (:meth:`LocalHttpServer.handler`)."""

from __future__ import annotations

import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.0 (one request per connection), no request log in the test output."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass

    def authorized(self, user_password: bytes, realm: str | None = None) -> bool:
        """True when the request carries basic auth ``user:password``; else answers 401 (asking for
        credentials in ``realm`` when given) and returns False."""
        if self.headers.get("Authorization") == "Basic " + base64.b64encode(user_password).decode():
            return True
        self.send_response(401)
        if realm is not None:
            self.send_header("WWW-Authenticate", f'Basic realm="{realm}"')
        self.end_headers()
        return False


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # start() again on the port stop() let go of
    daemon_threads = True


class LocalHttpServer:
    """Serves :meth:`handler` on 127.0.0.1 (a free port, then the same one again after :meth:`stop`).

    :attr:`running` is cleared by :meth:`stop`: streaming handlers end their loops on it.
    :attr:`interval` is the pause between the parts a streaming handler sends."""

    def __init__(self):
        self.interval = 0.02
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._running = threading.Event()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class (a :class:`QuietHandler`; it reaches this object by closure)."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def start(self):
        self._httpd = _Server(("127.0.0.1", self.port), self.handler())
        self.port = self._httpd.server_address[1]
        self._running.set()
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and end every open stream (the handlers see :attr:`running` cleared)."""
        self._running.clear()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        time.sleep(self.interval * 3)  # let streaming handlers notice and close
