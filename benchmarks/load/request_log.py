"""The per-request log of the load (for chaos experiments): one JSON object per line per request,
written by each generator process to DIR/requests-<pid>.jsonl (benchmarks/locustfile.py with
--lab-request-log DIR). lab/chaos/records.py reads these records back (and re-exports
RequestRecord).

Writes are buffered and flushed by the caller (the locustfile's RequestLogger,
benchmarks/load/request_logger.py: at least once a second and at test stop), so a process killed
late loses at most about a second of records; nothing is fsynced.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

OK = "OK"


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request of the load. Times are wall-clock epoch seconds."""

    op: str
    scheduled: float  # when it should have started (open loop: latency counts from here)
    end: float  # when its answer (or error) came back
    status: str  # "OK", a gRPC status code name, "TIMEOUT", or "GENERATOR_<exception>"
    request_id: str = ""  # writes: the idempotency key sent
    id: str = ""  # writes that succeeded: the id acknowledged
    post_id: str = ""  # the post a comment was written on, or a read was about

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def latency_ms(self) -> float:
        return (self.end - self.scheduled) * 1000

    def to_json(self) -> str:
        return json.dumps(
            {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) != ""},  # type: ignore[attr-defined]
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str) -> RequestRecord:
        return cls(**json.loads(line))


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
