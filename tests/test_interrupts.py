"""After a signal, dying DataLoader workers' connection errors (reported by multiprocessing's fd-passing thread
through sys.excepthook) are not printed; other exceptions still are."""

import signal
import sys

import pytest

from handobjectconsist import interrupts
from handobjectconsist.errors import Interrupted


def test_connection_errors_are_quiet_after_a_signal_only(monkeypatch, capsys):
    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    sys.excepthook(ConnectionResetError, ConnectionResetError(104, "reset before any signal"), None)
    assert "reset before any signal" in capsys.readouterr().err
    with interrupts.handle_interrupts():
        with pytest.raises(Interrupted):
            interrupts._handler(signal.SIGINT, None)
    sys.excepthook(ConnectionResetError, ConnectionResetError(104, "reset by peer"), None)
    sys.excepthook(EOFError, EOFError("worker gone"), None)
    assert capsys.readouterr().err == ""
    sys.excepthook(ValueError, ValueError("a real error"), None)
    assert "a real error" in capsys.readouterr().err
