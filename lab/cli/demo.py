"""`make demo`: start the sync stack with `lab up`, walk a short scenario with the CLI, stop it."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

DATA_DIR = Path(".lab/demo")
LAB = [sys.executable, "-m", "lab.cli"]


def show(*args: str, expect_failure: bool = False) -> str:
    """Run one `lab` command the way a person would, print it and what it printed."""
    print(f"\n$ lab {shlex.join(args)}", flush=True)
    result = subprocess.run([*LAB, *args, "--stack", str(DATA_DIR)], capture_output=True, text=True)
    output = (result.stdout + result.stderr).rstrip()
    print(output, flush=True)
    if (result.returncode != 0) != expect_failure:
        raise SystemExit(f"demo: unexpected exit code {result.returncode} from lab {args[0]}")
    return result.stdout


def main() -> None:
    print(f"$ lab up --impl sync --data-dir {DATA_DIR} --fresh   (in the background)", flush=True)
    up = subprocess.Popen(
        [*LAB, "up", "--impl", "sync", "--data-dir", str(DATA_DIR), "--fresh"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert up.stdout is not None
        deadline = time.monotonic() + 120
        for line in up.stdout:
            print("  | " + line.rstrip(), flush=True)
            if line.startswith("ready"):
                break
            if time.monotonic() > deadline:
                raise SystemExit("demo: the stack did not become ready within 120 s")
        else:
            raise SystemExit(f"demo: `lab up` exited with code {up.wait()} before it was ready")

        post = json.loads(
            show(
                "post", "create", "--title", "Sync vs async", "--body", "Which one wins?", "--json"
            )
        )
        post_id = post["id"]
        show("comment", "add", post_id, "Great comparison, thanks!")
        show("comment", "add", post_id, "Buy cheap ORANGE phones here")  # blocklisted word
        show("view", post_id)
        show(
            "comment", "add", "5c6c1c3e-0000-4000-8000-000000000000", "Hello?", expect_failure=True
        )
        show("post", "create", "--title", "", expect_failure=True)
        show("list")
        print(
            "\nWhat you saw: the approved and the rejected comment (final status at once: the sync"
            "\ncomments service asked moderation before answering), NOT_FOUND for an unknown post,"
            "\nINVALID_ARGUMENT naming the bad field. Every process logs to .lab/demo/logs/.",
            flush=True,
        )
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                rest = up.communicate(timeout=60)[0] or ""
            except subprocess.TimeoutExpired:
                up.kill()
                rest = ""
            for line in rest.splitlines():
                print("  | " + line, flush=True)
        print(f"\nlab up exited with code {up.wait()}", flush=True)


if __name__ == "__main__":
    main()
