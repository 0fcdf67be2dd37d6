"""Exec a command that the kernel kills when our parent dies.

Usage: `orphan_guard.py PARENT_PID [--user NAME] -- CMD...`.

The runner starts every child through this tiny launcher instead of a subprocess preexec_fn:
code run between fork and exec in a multi-threaded parent (gRPC and pytest have threads) can
deadlock on a lock another thread held at fork time. Here the prctl runs in a fresh,
single-threaded process, after the switch to --user (a uid change clears the setting), and the
setting survives execve.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main() -> None:
    parent = int(sys.argv[1])
    rest = sys.argv[2:]
    split = rest.index("--")
    options, command = rest[:split], rest[split + 1 :]
    if options[:1] == ["--user"]:
        import pwd

        entry = pwd.getpwnam(options[1])
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        sys.exit(f"orphan_guard: prctl failed (errno {ctypes.get_errno()})")
    if os.getppid() != parent:  # the parent died before prctl took effect
        sys.exit(1)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
