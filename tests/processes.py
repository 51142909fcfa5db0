"""Running a test's own multi-process job (a two-process DDP run) so that a hang cannot outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

# Set by a DDP run earlier in the same worker (Lightning writes them into os.environ): a child that
# inherited them would try to join that run's process group instead of starting its own.
_DDP_VARIABLES = {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK"}


def run_process_group(command: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """``command``'s exit status (None if it ran past ``timeout``) and its stdout + stderr, which the
    second rank (a child Lightning starts) shares; it starts without this process's DDP variables.
    On a timeout the whole process group is killed, so no rank or loader worker outlives the test,
    and the output up to then is returned."""
    environment = {name: value for name, value in os.environ.items() if name not in _DDP_VARIABLES}
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output = process.communicate(timeout=timeout)[0]
            return process.returncode, output
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return None, f"ran past {timeout} s, killed:\n" + process.communicate()[0]
