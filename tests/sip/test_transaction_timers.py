"""RFC 3261 Table 4 and RFC 6026 timer values, the per-transaction deadlines and the peer value."""

from __future__ import annotations

import pytest

from ringfence.errors import ConfigError
from ringfence.sip.effects import Peer, Side, TransactionKey
from ringfence.sip.timers import Deadlines, TimerName, TimerSettings

DEFAULT = TimerSettings()


@pytest.mark.parametrize(
    ("timer", "unreliable", "reliable"),
    [
        ("a", 0.5, None),
        ("d", 32.0, 0.0),
        ("e", 0.5, None),
        ("g", 0.5, None),
        ("i", 5.0, 0.0),
        ("j", 32.0, 0.0),
        ("k", 5.0, 0.0),
    ],
)
def test_transport_dependent_timers(timer: str, unreliable: float, reliable: float | None) -> None:
    method = getattr(DEFAULT, f"timer_{timer}")
    assert method(reliable=False) == unreliable
    assert method(reliable=True) == reliable


@pytest.mark.parametrize("timer", ["timer_b", "timer_f", "timer_h", "timer_l", "timer_m"])
def test_64_t1_timers(timer: str) -> None:
    assert getattr(DEFAULT, timer) == 32.0
    assert getattr(TimerSettings(t1=0.25), timer) == 16.0


def test_timers_follow_t1_t2_t4() -> None:
    settings = TimerSettings(t1=0.1, t2=1.0, t4=2.0, d_unreliable=40.0)
    assert settings.timer_a(reliable=False) == 0.1
    assert settings.timer_b == pytest.approx(6.4)
    assert settings.timer_d(reliable=False) == 40.0
    assert settings.timer_i(reliable=False) == 2.0
    assert settings.timer_j(reliable=False) == pytest.approx(6.4)
    assert settings.timer_k(reliable=False) == 2.0


@pytest.mark.parametrize(
    ("interval", "doubled", "capped"),
    [(0.5, 1.0, 1.0), (1.0, 2.0, 2.0), (2.0, 4.0, 4.0), (4.0, 8.0, 4.0), (16.0, 32.0, 4.0)],
)
def test_back_off(interval: float, doubled: float, capped: float) -> None:
    # Timer A doubles without bound; Timers E and G double up to T2.
    assert DEFAULT.doubled(interval) == doubled
    assert DEFAULT.doubled_to_t2(interval) == capped


@pytest.mark.parametrize(
    "kwargs",
    [
        {"t1": 0.0},
        {"t1": -1.0},
        {"t1": 2.0, "t2": 1.0},
        {"t4": -1.0},
        {"d_unreliable": -1.0},
        {"trying_delay": -0.1},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        TimerSettings(**kwargs)


def test_deadlines_report_started_timers_once() -> None:
    deadlines = Deadlines()
    deadlines.start(TimerName.A, 0.5)
    deadlines.start(TimerName.B, 32.0)
    assert deadlines.take_started() == [(TimerName.A, 0.5), (TimerName.B, 32.0)]
    assert deadlines.take_started() == []
    assert deadlines.is_running(TimerName.A, 0.5)
    assert not deadlines.is_running(TimerName.A, 1.5)
    deadlines.stop(TimerName.A)
    assert not deadlines.is_running(TimerName.A, 0.5)
    assert len(deadlines) == 1
    assert dict(deadlines.items()) == {TimerName.B: 32.0}


def test_deadlines_drop_a_restarted_timer_from_the_started_list() -> None:
    deadlines = Deadlines()
    deadlines.start(TimerName.E, 0.5)
    deadlines.start(TimerName.E, 1.5)
    deadlines.start(TimerName.F, 32.0)
    deadlines.stop(TimerName.F)
    assert deadlines.take_started() == [(TimerName.E, 1.5)]
    assert "E@1.5" in repr(deadlines)


@pytest.mark.parametrize(
    ("transport", "reliable"),
    [
        ("UDP", False),
        ("udp", False),
        ("TCP", True),
        ("TLS", True),
        ("SCTP", True),
        ("WS", True),
        ("wss", True),
    ],
)
def test_peer_reliability(transport: str, reliable: bool) -> None:
    assert Peer(transport=transport, host="192.0.2.1", port=5060).reliable is reliable


def test_value_types_print_readably() -> None:
    assert str(Peer(transport="udp", host="2001:db8::1", port=5060)) == "UDP:[2001:db8::1]:5060"
    key = TransactionKey(side=Side.SERVER, method="INVITE", branch="z9hg4bk1", sent_by="a:5060")
    assert str(key) == "server INVITE z9hg4bk1 from a:5060"
