"""autobahn formats its debug log arguments eagerly, whatever the log level: every WebSocket
connection pretty-prints its ~40 protocol options (``pformat(configAttrLog)`` in
``WebSocketProtocol._connectionMade``) and the transport details, and renders a few qualified
function names (``hltype``) — only for ``log.debug`` calls that txaio drops below DEBUG.  Profiled
under a connect burst (py-spy, issue 20) that was ~7 % of the server's CPU per socket.

``defer_debug_formatting`` makes those two helpers lazy inside ``autobahn.websocket.protocol``:
they return a placeholder that formats itself only when a log line is actually rendered
(``str.format`` → ``__format__``), so a DEBUG log still reads the same.  Internal leaned on: every
use of ``pformat``/``hltype`` in that module is a ``log.debug`` argument, except
``Timings.__str__``, which keeps the real ``pformat`` (``test_autobahn_debug.py`` pins both).
"""

from __future__ import annotations

import logging
from pprint import pformat as _pformat

logger = logging.getLogger(__name__)


class _Lazy:
    __slots__ = ("func", "arg")

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __str__(self) -> str:
        return str(self.func(self.arg))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __repr__(self) -> str:
        return str(self)


def defer_debug_formatting() -> bool:
    try:
        from autobahn.websocket import protocol
    except ImportError:  # pragma: no cover - not under Daphne
        return False
    if getattr(protocol, "_debug_formatting_deferred", False):
        return True
    if not (callable(getattr(protocol, "pformat", None)) and callable(getattr(protocol, "hltype", None))
            and hasattr(protocol, "Timings")):
        logger.warning("autobahn.websocket.protocol changed: its debug log arguments stay eager")
        return False
    real_hltype = protocol.hltype
    protocol.pformat = lambda obj: _Lazy(_pformat, obj)
    protocol.hltype = lambda obj: _Lazy(real_hltype, obj)
    protocol.Timings.__str__ = lambda self: _pformat(self._timings)
    protocol._debug_formatting_deferred = True
    return True
