"""Bounded memory per socket: a client that stops reading is closed, not buffered for.

ASGI has no backpressure for ``websocket.send``: Daphne hands every frame to Twisted, which keeps
whatever the kernel won't take in user space, without limit.  Twisted's own producer API says
when that buffer is full: a streaming producer registered on a transport is paused once more than
``transport.bufferSize`` (64 KiB) is waiting and resumed when it has drained.  ``SendBudget`` is
such a producer; while it is paused the consumer counts what it still sends, and past
``WS_SEND_BUDGET_BYTES`` it closes the socket with ``CLOSE_SLOW_READER`` (docs/REALTIME.md §5) —
the room then enters grace like any disconnect.  Worst case per socket: the kernel's send buffer +
64 KiB + the budget + one frame.

Framework internals leaned on (named here, switch ``WS_SEND_BUDGET_BYTES=0``, and
``realtime/tests/test_backpressure_e2e.py`` fails if an upgrade breaks them):
- Daphne passes each application ``send=functools.partial(Server.handle_reply, protocol)``
  (``daphne.server.Server.create_application``): the protocol is ``send.args[0]``;
- the protocol's ``transport`` is the TCP transport of the HTTP request it upgraded, whose
  producer (``transport.producer``) is still Twisted's ``HTTPChannel``; registering with the
  channel (``HTTPChannel.registerProducer``, public API) gets the transport's pause/resume.
Under any other server (or ``WebsocketCommunicator``) no transport is found and no budget applies.
"""

from __future__ import annotations

import functools
import logging

from zope.interface import implementer

logger = logging.getLogger(__name__)

try:  # Twisted is Daphne's; without it there is no transport to watch
    from twisted.internet.interfaces import IPushProducer
except ImportError:  # pragma: no cover - Daphne always brings Twisted
    IPushProducer = None


def daphne_transport(send):
    """The Twisted consumer behind a Daphne ASGI ``send`` callable, or None."""
    if not isinstance(send, functools.partial) or not send.args:
        return None
    transport = getattr(send.args[0], "transport", None)  # the TCP (or TLS) transport
    # Daphne upgrades an HTTP request: the HTTP channel stays registered as the transport's
    # producer (``FileDescriptor.producer``), and passes the transport's pause/resume on to the
    # producer registered with it (``HTTPChannel.registerProducer``, public API).
    channel = getattr(transport, "producer", None)
    return channel if hasattr(channel, "registerProducer") else None


class SendBudget:
    """A streaming producer: ``paused`` while Twisted holds more than its buffer size unsent."""

    def __init__(self, budget: int):
        self.budget = budget
        self.paused = False
        self.backlog = 0  # bytes sent while paused

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:  # the buffer drained: the reader caught up
        self.paused = False
        self.backlog = 0

    def stopProducing(self) -> None:
        self.paused = False

    def over(self, nbytes: int) -> bool:
        """Count a frame about to be sent; True when the socket is past its budget."""
        if not self.paused:
            return False
        self.backlog += nbytes
        return self.backlog > self.budget


if IPushProducer is not None:
    SendBudget = implementer(IPushProducer)(SendBudget)


def attach(send, budget: int) -> SendBudget | None:
    """Watch the transport behind ``send`` (call after accepting); None when there is none."""
    if budget <= 0:
        return None
    transport = daphne_transport(send)
    if transport is None:
        return None
    producer = SendBudget(budget)
    try:
        transport.registerProducer(producer, True)
    except RuntimeError:  # another producer is registered already: leave it alone
        logger.warning("send budget: the HTTP channel already has a producer; no budget for this socket")
        return None
    return producer


def close_oversized_frames_with_1009() -> bool:
    """Frames over the transport's own limit (Daphne's ``--websocket_max_message_size``, 1 MiB)
    are refused by autobahn with close code 1009 and a reason — but its server default
    (``failByDrop``) drops the TCP connection instead, so clients see 1006 and no reason.  Turn
    that off for Daphne's protocol class: autobahn copies a protocol option from the factory only
    when the class doesn't define it (``WebSocketProtocol._connectionMade``, ``CONFIG_ATTRS``).
    Internal leaned on: ``daphne.ws_protocol.WebSocketProtocol`` + that lookup (switch
    ``WS_OVERSIZE_CLOSE_1009``; ``test_backpressure_e2e.py`` fails if an upgrade breaks it)."""
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:  # pragma: no cover - not under Daphne
        return False
    if "failByDrop" not in getattr(WebSocketProtocol, "CONFIG_ATTRS", ()):
        logger.warning("autobahn no longer has the failByDrop option: oversized frames drop the connection")
        return False
    WebSocketProtocol.failByDrop = False
    return True
