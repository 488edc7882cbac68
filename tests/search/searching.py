"""Helpers of the tests that run `nasprune search` as a user does, in processes of its own."""

import contextlib
import os
import signal
import subprocess
import sys


def search_cmd(tiny_space, results, *extra):
    """`nasprune search` on the tiny space, quiet, without latency measurements."""
    return [sys.executable, "-m", "nasprune", "search", "--space", str(tiny_space), "--results-dir", str(results),
            "--no-latency", "--quiet", *extra]


@contextlib.contextmanager
def running(cmd, own_group=False):
    """A command in the background, killed if the test ends before it does. ``own_group``: in a process group of
    its own (as a shell puts a pipeline), so that a signal to the group reaches its workers and not pytest; it is
    then killed whole."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=own_group)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            if own_group:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        proc.communicate()
