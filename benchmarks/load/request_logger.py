"""The per-request log of one generator process (benchmarks/locustfile.py, --lab-request-log DIR):
buffered records flushed to DIR/requests-<pid>.jsonl (benchmarks/load/request_log.py), and the
drain that chaos experiments end with."""

from __future__ import annotations

import os
import time
from pathlib import Path

import gevent

from benchmarks.load.request_log import RequestLog, RequestRecord
from benchmarks.load.scenarios import Outcome

FLUSH_EVERY_S = 0.5  # the request log reaches the file at least this often
STOP_FILE = "stop"  # in --lab-request-log DIR: start no more requests (see RequestLogger)


class RequestLogger:
    """This process's per-request log (--lab-request-log): monotonic times become wall-clock
    times with one offset taken at test start; a greenlet flushes the buffer every
    FLUSH_EVERY_S, and test stop flushes it too."""

    def __init__(self) -> None:
        self.log: RequestLog | None = None
        self.offset = 0.0
        self.flusher: gevent.Greenlet | None = None
        self.directory: Path | None = None
        # The drain (chaos experiments end with it, so that no write is sent without its record):
        # once DIR/stop exists no request starts, and when none is in flight any more the log
        # is flushed and DIR/drained-<pid> written.
        self.in_flight = 0
        self.draining = False
        self.drained = False

    def start(self, directory: str) -> None:
        self.offset = time.time() - time.monotonic()
        if not directory:
            return
        self.directory = Path(directory)
        if self.log is None:
            self.log = RequestLog(Path(directory))
        if self.flusher is None:
            self.flusher = gevent.spawn(self._flush_every, FLUSH_EVERY_S)

    def add(self, op: str, scheduled: float, end: float, status: str, outcome: Outcome) -> None:
        if self.log is None:
            return
        self.log.append(
            RequestRecord(
                op,
                scheduled + self.offset,
                end + self.offset,
                status,
                outcome.request_id,
                outcome.id,
                outcome.post_id,
            )
        )

    def _flush_every(self, seconds: float) -> None:
        while True:
            gevent.sleep(seconds if not self.draining else 0.05)
            self.flush()
            if self.directory is None or self.drained:
                continue
            if not self.draining and (self.directory / STOP_FILE).exists():
                self.draining = True
            if self.draining and self.in_flight == 0:
                self.flush()
                (self.directory / f"drained-{os.getpid()}").touch()
                self.drained = True

    def flush(self) -> None:
        if self.log is not None:
            self.log.flush()

    def close(self) -> None:
        if self.flusher is not None:
            self.flusher.kill(block=False)
            self.flusher = None
        if self.log is not None:
            self.log.close()
            self.log = None
