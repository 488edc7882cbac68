"""SIGINT and SIGTERM become one Interrupted in ordinary code, including a signal that lands in a finalizer."""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
import weakref

import pytest

from nasprune.signals import Interrupted, interrupt_on_signals


def _wait_for_interrupt(seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.001)


class _SignalsOnCollection:
    """Sends the process SIGTERM from its ``__del__``, as a driver closing a dropped connection may be caught."""

    def __init__(self) -> None:
        self.cycle = self  # freed by the collector, as psycopg's connections were

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, inside the finalizer (os.kill checks
        for _ in range(1000):                  # for signals; the loop keeps it inside where one would not)
            pass


def test_a_signal_in_ordinary_code_raises_interrupted_with_its_number():
    with interrupt_on_signals(), pytest.raises(Interrupted) as caught:
        os.kill(os.getpid(), signal.SIGTERM)
        _wait_for_interrupt()
    assert caught.value.signum == signal.SIGTERM


def test_a_signal_that_lands_in_a_del_is_raised_after_it_once_and_prints_nothing(capfd):
    before = signal.getsignal(signal.SIGTERM)
    with interrupt_on_signals(), pytest.raises(Interrupted) as caught:
        _SignalsOnCollection()
        gc.collect()
        _wait_for_interrupt()
    assert caught.value.signum == signal.SIGTERM
    assert "Exception ignored" not in capfd.readouterr().err
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_signal_that_lands_in_a_weakref_callback_is_sent_again_and_prints_nothing(capfd):
    class Thing:
        pass

    with interrupt_on_signals(), pytest.raises(Interrupted) as caught:
        thing = Thing()
        weakref.finalize(thing, os.kill, os.getpid(), signal.SIGINT)
        del thing
        _wait_for_interrupt()
    assert caught.value.signum == signal.SIGINT
    assert "Exception ignored" not in capfd.readouterr().err


def test_other_errors_in_finalizers_still_reach_the_previous_hook_which_is_restored(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    class Broken:
        def __del__(self):
            raise ValueError("a finalizer's own error")

    with interrupt_on_signals():
        Broken()
        gc.collect()
    assert [type(u.exc_value) for u in seen] == [ValueError]
    assert sys.unraisablehook == seen.append
