"""Rates and means of cumulative counters over the recent window (observability/window.py),
driven with explicit times."""

import pytest

from trade_engine.observability.window import CounterWindow


def test_no_rate_until_readings_span_the_minimum():
    window = CounterWindow(window=10.0, resolution=1.0, minimum=1.0)
    assert window.change(100.0, (0.0,)) is None
    assert window.change(100.5, (5.0,)) is None


def test_rate_is_the_change_over_the_time_it_took():
    window = CounterWindow(window=10.0)
    window.change(100.0, (0.0, 0.0))
    change = window.change(102.0, (50.0, 8.0))
    assert change is not None
    assert change.seconds == 2.0
    assert (change.rate(0), change.rate(1)) == (25.0, 4.0)


def test_the_base_is_the_newest_reading_at_least_a_window_old():
    window = CounterWindow(window=10.0, resolution=1.0)
    for second in range(21):  # one order per second for 20 s, then a burst
        window.change(float(second), (float(second),))
    change = window.change(21.0, (121.0,))  # 100 orders in the last second
    assert change is not None
    assert change.seconds == 10.0  # from the reading at t=11: the newest one 10 s old or older
    assert change.rate(0) == 11.0  # (121 - 11) / 10


def test_readings_are_kept_for_the_window_only():
    window = CounterWindow(window=10.0, resolution=1.0)
    for second in range(1000):
        window.change(float(second), (float(second),))
    assert len(window._readings) <= 12


def test_after_a_quiet_spell_the_rate_covers_the_whole_spell():
    window = CounterWindow(window=10.0)
    window.change(0.0, (0.0,))
    change = window.change(300.0, (600.0,))  # nobody asked for five minutes
    assert change is not None
    assert (change.seconds, change.rate(0)) == (300.0, 2.0)


def test_readings_closer_than_the_resolution_are_not_kept():
    window = CounterWindow(window=10.0, resolution=1.0)
    window.change(0.0, (0.0,))
    window.change(0.2, (1.0,))
    window.change(0.4, (2.0,))
    change = window.change(1.0, (3.0,))
    assert change is not None
    assert change.seconds == 1.0
    assert len(window._readings) == 2


def test_mean_of_a_histogram_over_the_window():
    window = CounterWindow(window=10.0)
    window.change(0.0, (1.0, 10.0))  # sum of seconds, count of observations
    change = window.change(5.0, (1.5, 20.0))
    assert change is not None
    assert change.mean(0, 1) == pytest.approx(0.05)
    quiet = CounterWindow(window=10.0)
    quiet.change(0.0, (1.0, 10.0))
    unchanged = quiet.change(5.0, (1.0, 10.0))
    assert unchanged is not None
    assert unchanged.mean(0, 1) is None


def test_counters_that_go_down_start_the_readings_over():
    window = CounterWindow(window=10.0)
    window.change(0.0, (100.0,))
    assert window.change(5.0, (3.0,)) is None  # a reset: no rate across it
    change = window.change(7.0, (9.0,))
    assert change is not None
    assert (change.seconds, change.rate(0)) == (2.0, 3.0)


def test_settings_must_make_sense():
    with pytest.raises(ValueError, match="minimum"):
        CounterWindow(window=1.0, minimum=2.0)
    with pytest.raises(ValueError, match="resolution"):
        CounterWindow(window=1.0, resolution=0.0)
