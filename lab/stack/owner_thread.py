"""The stack's operator thread: process-starting work handed over by short-lived threads."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


class OwnerThread:
    """A long-lived thread that runs process-starting work for callers on other threads.

    Every child gets its parent-death signal (stack.orphan_guard) from the kernel when the
    *thread* that started it ends, not the process: a child started from a short-lived thread
    (an HTTP request's, a chaos tool's background activity) would be SIGKILLed as soon as that
    thread returned. Work handed to this thread runs one call at a time, in order.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Callable[[], object], Future[object]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def call(self, work: Callable[[], T]) -> T:
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
        future: Future[object] = Future()
        self._queue.put((work, future))
        return future.result()  # type: ignore[return-value]

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            work, future = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as error:  # handed to the caller
                    future.set_exception(error)

    def close(self) -> None:
        """End the thread (only once nothing it started runs any more)."""
        with self._guard:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            if thread is not threading.current_thread():
                thread.join(timeout=30)
