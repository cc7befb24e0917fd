"""Connection errors of multiprocessing's fd-passing thread (reported through sys.excepthook) are not printed in a
DataLoader worker, nor in the main process after a signal; other exceptions still are."""

import signal
import sys

import pytest

from handobjectconsist import interrupts
from handobjectconsist.errors import Interrupted


def _raised_in(module, exc):
    """(type, value, traceback) of exc raised by code whose globals are those of `module`."""
    try:
        exec("raise exc", {"__name__": module.__name__, "exc": exc})
    except BaseException as err:  # noqa: BLE001 - the exception is the test's input
        return type(err), err, err.__traceback__


def test_after_a_signal_only_the_fd_passing_thread_losing_its_reader_is_quiet(monkeypatch, capsys):
    import multiprocessing.resource_sharer as resource_sharer

    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    sys.excepthook(*_raised_in(resource_sharer, ConnectionResetError(104, "reset before any signal")))
    assert "reset before any signal" in capsys.readouterr().err
    with interrupts.handle_interrupts():
        with pytest.raises(Interrupted):
            interrupts._handler(signal.SIGINT, None)
    sys.excepthook(*_raised_in(resource_sharer, ConnectionResetError(104, "reset by peer")))
    sys.excepthook(*_raised_in(resource_sharer, EOFError("worker gone")))
    assert capsys.readouterr().err == ""
    sys.excepthook(*_raised_in(signal, ConnectionResetError(104, "a connection of the user's code")))
    sys.excepthook(ValueError, ValueError("a real error"), None)
    err = capsys.readouterr().err
    assert "a connection of the user's code" in err and "a real error" in err


def test_a_worker_does_not_print_the_fd_passing_thread_losing_its_reader(monkeypatch, capsys):
    import multiprocessing.resource_sharer as resource_sharer

    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    interrupts.quiet_lost_fd_connections(worker_id=0)
    sys.excepthook(*_raised_in(resource_sharer, ConnectionResetError(104, "reset by the main process")))
    sys.excepthook(*_raised_in(resource_sharer, EOFError("main process gone")))
    assert capsys.readouterr().err == ""
    sys.excepthook(*_raised_in(signal, ConnectionResetError(104, "a connection of the user's code")))
    sys.excepthook(*_raised_in(resource_sharer, ValueError("a real error in the fd thread")))
    err = capsys.readouterr().err
    assert "a connection of the user's code" in err and "a real error in the fd thread" in err
