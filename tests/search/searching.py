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


def run_here(cmd, capfd):
    """(exit status, stdout, stderr) of ``cmd``, a `python -m nasprune ...` command, run in this process: a new one
    spends about 5 s importing PyTorch and scikit-learn and, at its first optimizer, TorchDynamo. ``capfd`` (the
    test's fixture) reads the streams at the file descriptors, where every writer's output lands. For a single
    process on a journal file only: a run on PostgreSQL leaves its connections to the garbage collector, whose
    warnings then fail a later test, and a run with --workers spawned from pytest hung once."""
    from nasprune.cli import main

    capfd.readouterr()
    code = main(cmd[3:])
    out, err = capfd.readouterr()
    return code, out, err


def side_by_side():
    """The environment of a command run beside another on this machine, as two machines would run it: one intra-op
    thread each. Two commands with PyTorch's default (a thread per core) on a 2-core machine spin against each other:
    two tiny searches side by side took 12.3 s, 9.9 s with one thread each."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@contextlib.contextmanager
def running(cmd, own_group=False, env=None):
    """A command in the background, killed if the test ends before it does. ``own_group``: in a process group of
    its own (as a shell puts a pipeline), so that a signal to the group reaches its workers and not pytest; it is
    then killed whole."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=own_group, env=env)
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
