"""The failure limiter on its own clock: lockouts per address, their backoff, the global lock,
the bounded table, and which address a request is counted under."""

from __future__ import annotations

from collector.auth_limit import AuthLimiter, AuthLimitSettings, client_key


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def limiter(clock: Clock, **kw: object) -> AuthLimiter:
    return AuthLimiter(AuthLimitSettings.model_validate(kw), clock)


def test_an_address_is_locked_out_with_backoff_and_others_are_not() -> None:
    c = Clock()
    lim = limiter(c, failures=5, window="15m", max_lockout="40m")
    for _ in range(4):
        lim.failed("a")
        assert lim.wait_s("a") is None
    lim.failed("a")  # the fifth within the window
    assert lim.wait_s("a") == 900 and lim.wait_s("b") is None
    c.t += 899.5
    assert lim.wait_s("a") == 1
    c.t += 0.5
    assert lim.wait_s("a") is None
    for _ in range(5):
        lim.failed("a")
    assert lim.wait_s("a") == 1800  # the second lockout: twice as long
    c.t += 1800
    for _ in range(5):
        lim.failed("a")
    assert lim.wait_s("a") == 2400  # capped by max_lockout
    assert lim.counts["auth_lockouts"] == 3 and lim.counts["auth_failures"] == 15
    assert lim.counts["auth_limited"] == 4


def test_failures_spread_over_windows_lock_nothing() -> None:
    c = Clock()
    lim = limiter(c, failures=3, window=60)
    for _ in range(10):
        lim.failed("a")
        lim.failed("a")
        c.t += 61
    assert lim.wait_s("a") is None and lim.counts["auth_lockouts"] == 0


def test_many_addresses_failing_together_lock_everyone_for_the_window() -> None:
    c = Clock()
    lim = limiter(c, failures=5, window=60, global_failures=3)
    for key in ("a", "b"):
        lim.failed(key)
    assert lim.wait_s("new") is None
    c.t += 10
    lim.failed("c")
    assert lim.wait_s("new") == 50 and lim.counts["auth_global_lockouts"] == 1
    c.t += 50
    assert lim.wait_s("new") is None


def test_the_table_is_bounded_and_a_full_one_is_counted() -> None:
    lim = limiter(Clock(), max_addresses=2)
    for key in ("a", "b", "c"):
        lim.failed(key)
    assert len(lim) == 2 and lim.counts["auth_addresses_evicted"] == 1


def test_disabled_limits_nothing() -> None:
    lim = limiter(Clock(), enabled=False, failures=1)
    lim.failed("a")
    assert lim.wait_s("a") is None


def test_the_client_is_the_peer_or_the_hop_before_a_trusted_proxy() -> None:
    proxies = frozenset({"10.0.0.2", "10.0.0.3"})
    assert client_key("198.51.100.7", "203.0.113.9", proxies) == "198.51.100.7"  # not trusted
    assert client_key("10.0.0.2", "1.1.1.1, 203.0.113.9", proxies) == "203.0.113.9"
    assert client_key("10.0.0.2", "203.0.113.9, 10.0.0.3", proxies) == "203.0.113.9"
    assert client_key("10.0.0.2", "", proxies) == "10.0.0.2"
    # one IPv6 subscriber holds a /64: counted as one
    assert client_key("2001:db8:1:2::5", "", proxies) == client_key(
        "2001:db8:1:2:ff::9", "", proxies
    )
    assert client_key("2001:db8:1:3::5", "", proxies) == "2001:db8:1:3::/64"
    assert client_key("::ffff:198.51.100.7", "", proxies) == "198.51.100.7"
    assert client_key(None, "", proxies) == "unknown"
