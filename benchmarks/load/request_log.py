"""The per-request log of the load, written and read by this module alone: one JSON object per
line per request, in DIR/requests-<pid>.jsonl of each generator process
(benchmarks/locustfile.py with --lab-request-log DIR). Chaos experiments compute every figure
from it (lab/chaos/), never from Locust's statistics.

Writing (RequestLogger, in the generator): records are buffered and flushed at least every
FLUSH_EVERY_S and at test stop, so a process killed late loses at most that much; nothing is
fsynced. The drain: once DIR/stop exists no request starts, and when none is in flight the log
is flushed and DIR/drained-<pid> written (a write sent and never logged would look, to the
audit, like a row nobody asked for).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import gevent

OK = "OK"
PARTIAL = "PARTIAL"  # an answer its server marked partial (a view without its comments)
FLUSH_EVERY_S = 0.5  # the request log reaches the file at least this often
STOP_FILE = "stop"  # in --lab-request-log DIR: start no more requests
DRAINED_FILE = "drained-{pid}"  # ... and this process has logged every request it sent


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request of the load. Times are wall-clock epoch seconds."""

    op: str
    scheduled: float  # when it should have started (open loop: latency counts from here)
    end: float  # when its answer (or error) came back; = scheduled if never sent
    status: str  # "OK", "PARTIAL", a gRPC status code name, "TIMEOUT", or "GENERATOR_<reason>"
    request_id: str = ""  # writes: the idempotency key sent
    id: str = ""  # writes that succeeded: the id acknowledged
    post_id: str = ""  # the post a comment was written on, or a read was about
    sent: float = 0.0  # when it was actually sent (0: never sent, e.g. GENERATOR_OVERFLOW)

    @property
    def ok(self) -> bool:
        """A complete answer (a partial one is counted apart: `partial`)."""
        return self.status == OK

    @property
    def partial(self) -> bool:
        """An answer its server marked partial: up, degraded (docs/METHOD.md, Resilience)."""
        return self.status == PARTIAL

    @property
    def latency_ms(self) -> float:
        return (self.end - self.scheduled) * 1000

    def to_json(self) -> str:
        return json.dumps(
            {k: v for k in self.__slots__ if (v := getattr(self, k)) not in ("", 0.0)},  # type: ignore[attr-defined]
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str) -> RequestRecord:
        return cls(**json.loads(line))


def answered(partial: bool) -> str:
    """The status of a request that got an answer: PARTIAL when the answer said so, else OK."""
    return PARTIAL if partial else OK


def read_request_log(paths: Iterable[Path]) -> list[RequestRecord]:
    """Every record of every generator process's file, ordered by scheduled start."""
    records = [record for path in paths for record in _lines(path)]
    return sorted(records, key=lambda r: r.scheduled)


def _lines(path: Path) -> Iterator[RequestRecord]:
    with open(path) as lines:
        for line in lines:
            if line.strip():
                yield RequestRecord.from_json(line)


class RequestLog:
    """This process's file of records, DIR/requests-<pid>.jsonl: append() buffers in memory,
    flush() appends the buffer to the file (opened, and DIR made, at the first flush with
    records, so a process that sends nothing leaves no file)."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        self.path = Path(directory) / f"requests-{pid if pid is not None else os.getpid()}.jsonl"
        self._buffer: list[str] = []
        self._file: TextIO | None = None

    def append(self, record: RequestRecord) -> None:
        self._buffer.append(record.to_json())

    def flush(self) -> None:
        if not self._buffer:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a")  # kept open for the whole run
        lines, self._buffer = self._buffer, []
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()  # to the OS: survives the process being killed (not a power cut)

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None


class RequestLogger:
    """The generator process's writer (--lab-request-log): monotonic times become wall-clock
    times with one offset taken at test start; a greenlet flushes the buffer every
    FLUSH_EVERY_S and watches for the drain; test stop flushes too."""

    def __init__(self) -> None:
        self.log: RequestLog | None = None
        self.offset = 0.0
        self.flusher: gevent.Greenlet | None = None
        self.directory: Path | None = None
        self.in_flight = 0
        self.draining = False
        self.drained = False

    def start(self, directory: str) -> None:
        """A test starts (Locust's UI may start several in one process): nothing drains yet."""
        self.offset = time.time() - time.monotonic()
        self.draining = self.drained = False
        if not directory:
            return
        self.directory = Path(directory)
        if self.log is None:
            self.log = RequestLog(Path(directory))
        if self.flusher is None:
            self.flusher = gevent.spawn(self._flush_every, FLUSH_EVERY_S)

    def wall(self, monotonic: float) -> float:
        return monotonic + self.offset

    def add(self, record: RequestRecord) -> None:
        """Log a record whose times are monotonic (converted to wall clock here)."""
        if self.log is None:
            return
        self.log.append(
            RequestRecord(
                record.op,
                self.wall(record.scheduled),
                self.wall(record.end),
                record.status,
                record.request_id,
                record.id,
                record.post_id,
                self.wall(record.sent) if record.sent else 0.0,
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
                (self.directory / DRAINED_FILE.format(pid=os.getpid())).touch()
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
