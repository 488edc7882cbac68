"""SIGINT and SIGTERM end a long command the same way: the running trial is recorded as interrupted and the
process exits with 128 + the signal's number, so a scheduler's ``kill`` and a user's Ctrl-C both leave a
study that the same command resumes. A second signal while the first is being handled exits at once (the
trial it leaves running is found on the next start and run again).

A signal can land while a finalizer runs (a ``__del__``, a weakref callback, often a database driver closing
a dropped connection). Python cannot raise from there: it would print "Exception ignored in ..." and lose the
interrupt, and the process would carry on. Such a signal is instead sent again a moment later, until it lands
in ordinary code.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Interrupted", "interrupt_on_signals", "exit_code", "signal_name", "signal_of"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_RETRY_S = 0.01  # how soon a signal that landed in a finalizer is sent again


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGINT or SIGTERM."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    """SIGTERM, SIGKILL, ... (or "signal N" for a number without a name)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def signal_of(exc: KeyboardInterrupt) -> int:
    """The signal behind an interrupt: the one :class:`Interrupted` carries, SIGINT for a bare KeyboardInterrupt."""
    return getattr(exc, "signum", signal.SIGINT)


def exit_code(exc: KeyboardInterrupt) -> int:
    """The conventional exit status for an interrupt: 128 + its signal (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signal_of(exc)


def _handler(signum: int, frame: types.FrameType | None) -> None:
    if _in_finalizer(frame):
        _send_again(signum)
        return
    for s in _SIGNALS:  # the next signal no longer waits for the bookkeeping of this one
        signal.signal(s, _exit_now)
    raise Interrupted(signum)


def _in_finalizer(frame: types.FrameType | None) -> bool:
    """Whether the interrupted code runs inside a ``__del__`` (or our unraisable hook), where a raise is lost."""
    while frame is not None:
        if frame.f_code.co_name == "__del__" or frame.f_code is _resend_lost.__code__:
            return True
        frame = frame.f_back
    return False


def _send_again(signum: int) -> None:
    timer = threading.Timer(_RETRY_S, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def _resend_lost(unraisable: Any, previous: Callable[[Any], object] | None = None) -> None:
    """``sys.unraisablehook`` within :func:`interrupt_on_signals`: an :class:`Interrupted` raised in a finalizer
    that :func:`_in_finalizer` did not recognise (a weakref callback) is not printed but sent again, to the
    handler that raised it; anything else goes to the previous hook."""
    exc = getattr(unraisable, "exc_value", None)
    if isinstance(exc, Interrupted) and threading.current_thread() is threading.main_thread():
        signal.signal(exc.signum, _handler)
        _send_again(exc.signum)
        return
    (previous or sys.__unraisablehook__)(unraisable)


def _exit_now(signum: int, frame: object) -> None:
    os._exit(128 + signum)


@contextlib.contextmanager
def interrupt_on_signals(ignore_sigint: bool = False) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (a KeyboardInterrupt) in the main
    thread; the previous handlers are restored afterwards. Does nothing outside the main thread.

    ``ignore_sigint``: for a worker process whose parent passes every interrupt on as SIGTERM. A terminal's
    Ctrl-C reaches the whole foreground process group, the parent and its workers at once; if the workers
    took it as their first signal, the parent's SIGTERM would be their second, and they would exit before
    recording their trials. So until its first signal (from the parent) a worker ignores SIGINT; after it, a
    second Ctrl-C ends the worker at once, like any process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in _SIGNALS}
    previous_hook = sys.unraisablehook
    for s in _SIGNALS:
        signal.signal(s, signal.SIG_IGN if ignore_sigint and s == signal.SIGINT else _handler)
    sys.unraisablehook = functools.partial(_resend_lost, previous=previous_hook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for s, h in previous.items():
            signal.signal(s, h)
