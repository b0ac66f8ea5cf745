"""autobahn's per-connection debug-log arguments are formatted only when logged (issue 20)."""

from pprint import pformat

from twisted.logger import formatEvent

from config.autobahn_debug import defer_debug_formatting


def test_debug_arguments_are_lazy_and_render_the_same():
    assert defer_debug_formatting()
    from autobahn.websocket import protocol

    calls = []
    value = {"b": [1, 2, 3], "a": "x" * 100}
    lazy = protocol.pformat(value)
    assert not isinstance(lazy, str)  # nothing formatted yet
    # a DEBUG line, when it is rendered, reads as before
    assert formatEvent({"log_format": "\n{attrs}", "attrs": lazy}) == "\n" + pformat(value)
    assert f"{lazy}" == str(lazy) == repr(lazy) == pformat(value)

    def f():
        calls.append(1)

    name = protocol.hltype(f)
    assert calls == [] and "f" in str(name)


def test_timings_still_print_as_text():
    defer_debug_formatting()
    from autobahn.websocket.protocol import Timings

    t = Timings()
    t.track("x")
    assert isinstance(str(t), str) and "'x'" in str(t)


def test_the_asgi_application_applies_it():
    import config.asgi  # noqa: F401
    from autobahn.websocket import protocol

    assert protocol._debug_formatting_deferred
