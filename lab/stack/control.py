"""The fault-control API of a running stack: a small HTTP+JSON server on loopback, and its client.

Whoever owns the Stack (`lab up`, the chaos runner, a test) serves it: `ControlServer(stack)`,
start() and stop(). It listens on 127.0.0.1 on an ephemeral port and publishes its address and a
random token in stack.json (`"control": {"url": ..., "token": ...}`, a 0600 file): only who can
read stack.json can change the stack. Every request carries `Authorization: Bearer <token>`.

    GET  /faults                         -> {"impl", "running", "fault_proxies",
                                             "catalogue": [...], "active": [...],
                                             "history": [...]}
    POST /faults  {"fault": "kill-db:comments"}
                                         -> {"fault", "injected_at", "detail", ...,
                                             "bus": {...} for a bus-node fault}
    POST /restore {"target": "comments" | "bus" | "all"}
                                         -> {"restored": [...], "restored_at", "message", ...}

Errors: {"error": "<one line>"} with 400 (bad input), 401 (no or wrong token), 404 (no such
endpoint), 409 (the part is already faulted or not running), 503 (the stack is not running) or
500 (a restore failed: the fault stays active, try again). Times are epoch seconds (time.time()).
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.stack.errors import FaultConflict, StackNotRunning
from lab.stack.faults import Fault, FaultError
from lab.stack.stackfile import ControlInfo, load_stack_file

if TYPE_CHECKING:
    from lab.stack.runner import Stack

MAX_BODY = 64 * 1024
UNAUTHORIZED = (
    "missing or wrong token: send `Authorization: Bearer <token>` with the token of the "
    '"control" block in the stack\'s stack.json (readable by its owner only)'
)


def clock(epoch_s: float) -> str:
    """Local wall-clock time of day with milliseconds, e.g. 16:20:01.123."""
    return datetime.fromtimestamp(epoch_s).strftime("%H:%M:%S.%f")[:-3]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "lab-control/1"

    # -- plumbing ---------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: what changes the stack is announced by ControlServer

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = (json.dumps(body) + "\n").encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            if status == HTTPStatus.UNAUTHORIZED:
                self.send_header("WWW-Authenticate", 'Bearer realm="lab-control"')
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up waiting: what was done is in GET /faults

    def _error(self, status: int, message: str) -> None:
        self._reply(status, {"error": " ".join(message.split())})  # one line

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        expected = self.server.control.token
        return scheme.lower() == "bearer" and secrets.compare_digest(
            given.strip().encode(), expected.encode()
        )

    def _read_body(self) -> bytes | None:
        """The request's body (read before any answer: unread input would make the close of
        the connection a reset, losing the answer); None when it is too large or malformed."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _body(self, raw: bytes | None) -> dict[str, Any]:
        if raw is None:
            raise FaultError(f"bad request body: a JSON object of at most {MAX_BODY} bytes")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise FaultError("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise FaultError("the request body must be a JSON object")
        return body

    def _field(self, body: dict[str, Any], name: str, example: str) -> str:
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise FaultError(f'expected a JSON object with a string "{name}", e.g. {example}')
        return value

    # -- requests ---------------------------------------------------------------------------
    def do_GET(self) -> None:  # http.server's names
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        control = self.server.control
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        raw = self._read_body()
        try:
            if not self._authorized():
                self._error(HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
                return
            if (method, path) == ("GET", "/faults"):
                self._reply(HTTPStatus.OK, control.listing())
            elif (method, path) == ("POST", "/faults"):
                text = self._field(self._body(raw), "fault", '{"fault": "kill-db:comments"}')
                self._reply(HTTPStatus.OK, control.inject(text))
            elif (method, path) == ("POST", "/restore"):
                target = self._field(self._body(raw), "target", '{"target": "comments"}')
                self._reply(HTTPStatus.OK, control.restore(target))
            elif path in ("/faults", "/restore"):
                self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} {path} is not supported")
            else:
                self._error(
                    HTTPStatus.NOT_FOUND,
                    f"no endpoint {path}: use GET /faults, POST /faults, POST /restore",
                )
        except FaultError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
        except FaultConflict as error:
            self._error(HTTPStatus.CONFLICT, str(error))
        except StackNotRunning as error:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(error))
        except Exception as error:  # a restart that failed: say so, keep serving
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(error).__name__}: {error}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    control: ControlServer


class ControlServer:
    """Serves the fault-control API of `stack` on 127.0.0.1 (a thread per request).

    start() may come before or after stack.start(): the control block reaches stack.json with
    the stack's first write, or at once. stop() withdraws it; stop the server before the stack.
    `announce` (e.g. print) gets one line per fault injected or restored.
    """

    def __init__(
        self,
        stack: Stack,
        *,
        port: int = 0,
        token: str | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.stack = stack
        self.token = token or secrets.token_urlsafe(32)
        self.announce = announce or (lambda line: None)
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the control server is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def info(self) -> ControlInfo:
        return {"url": self.url, "token": self.token}

    def start(self) -> ControlServer:
        if self._httpd is not None:
            return self
        httpd = _Server(("127.0.0.1", self._port), _Handler)
        httpd.control = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="lab-control", kwargs={"poll_interval": 0.2}
        )
        self._thread.daemon = True
        self._thread.start()
        self.stack.attach_control(self.info)
        return self

    def stop(self) -> None:
        """Stop serving (idempotent) and withdraw the control block from stack.json."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.stack.attach_control(None)

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the operations (also usable in-process) --------------------------------------------
    def listing(self) -> dict[str, Any]:
        faults = self.stack.faults
        return {
            "impl": self.stack.config.impl,
            "running": self.stack.running,
            "fault_proxies": getattr(self.stack, "proxies", None) is not None,
            "catalogue": [f.describe() for f in faults.catalogue()],
            "active": [r.to_dict() for r in faults.active()],
            "history": [r.to_dict() for r in faults.history()],
        }

    def inject(self, text: str) -> dict[str, Any]:
        fault = Fault.parse(text, self.stack.config.impl, self.stack.config.options.bus_nodes)
        record = self.stack.faults.inject(fault)
        self.announce(f"fault: injected {fault} at {clock(record.injected_at)} ({record.detail})")
        return record.to_dict()

    def restore(self, target: str) -> dict[str, Any]:
        result = self.stack.faults.restore(target)
        for record in result.restored:
            assert record.restored_at is not None
            self.announce(
                f"fault: restored {record.fault} at {clock(record.restored_at)} "
                f"({record.restore_detail})"
            )
            if record.bus is not None:  # the election the fault caused, as the servers saw it
                self.announce(f"fault: {record.fault}: {record.bus.summary()}")
        return result.to_dict()


# --- the client --------------------------------------------------------------------------------
class ControlError(RuntimeError):
    """A request to the control API failed; the message is the server's (or why none came)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message if status is None else f"{message} (HTTP {status})")
        self.message = message
        self.status = status


class ControlClient:
    """The control API of a running stack, found in its stack.json."""

    def __init__(self, url: str, token: str, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    @classmethod
    def from_stack_file(cls, path: Path, timeout_s: float = 60.0) -> ControlClient:
        try:
            info = load_stack_file(path)
        except (OSError, ValueError) as error:
            raise ControlError(f"cannot read {path}: {error}") from None
        control = info.get("control")
        if not control:
            raise ControlError(
                f'{path} has no "control" block: this stack serves no fault-control API '
                "(start it with `lab up`, or serve one with stack.control.ControlServer)"
            )
        return cls(control["url"], control["token"], timeout_s)

    def list(self) -> dict[str, Any]:
        """{"impl", "running", "catalogue": [...], "active": [...], "history": [...]}."""
        return self._call("GET", "/faults")

    def inject(self, fault: Fault | str) -> dict[str, Any]:
        """{"fault", "kind", "target", "injected_at", "detail", "pids", ...}."""
        return self._call("POST", "/faults", {"fault": str(fault)})

    def restore(self, target: str) -> dict[str, Any]:
        """{"restored": ["kill-db:comments", ...], "restored_at", "message", "records"}."""
        return self._call("POST", "/restore", {"target": target})

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                result: dict[str, Any] = json.loads(reply.read())
                return result
        except urllib.error.HTTPError as error:
            raise ControlError(_server_message(error), error.code) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ControlError(
                f"cannot reach the control API at {self.url}: {reason} (is `lab up` running?)"
            ) from None


def _server_message(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read())["error"])
    except Exception:
        return str(error.reason or "no details")
