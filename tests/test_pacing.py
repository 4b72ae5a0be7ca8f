"""Pacing, on a fake clock: the rate pacer's schedule, human-like gaps and long pauses, the
24 h cap with its warm-up ramp, and the settings' bounds."""

from __future__ import annotations

import random

import pytest

from app.errors import Invalid
from app.services import pacing
from app.services.pacing import DAY_MS, Pacer


def test_rate_pacer_holds_the_rate_over_ten_seconds_of_fake_clock() -> None:
    settings = pacing.check("cloud", {"rate": 25})
    pacer, now, sent = Pacer(), 1000.0, []
    while now < 1010.0:
        n = pacer.due(settings, now)
        sent += [now] * n
        pacer.took(settings, n, now, random.Random(1))
        now += 0.013  # the runner looks at odd moments; the schedule, not the looks, sets the pace
    assert 225 <= len(sent) <= 275  # 25/s within 10 % (it is within 1 %: 247..253)
    assert 247 <= len(sent) <= 253


def test_rate_pacer_catches_up_a_late_look_but_never_bursts_after_idling() -> None:
    settings = pacing.check("cloud", {"rate": 10})
    pacer = Pacer()
    assert pacer.due(settings, 0.0) == 1
    pacer.took(settings, 1, 0.0, random.Random())
    assert pacer.due(settings, 0.05) == 0       # too early
    assert pacer.due(settings, 0.35) == 3       # late by 2.5 intervals: the missed ones go now
    pacer.took(settings, 3, 0.35, random.Random())
    assert pacer.due(settings, 60.0) == 1       # after a minute idle: one, not 600


def test_human_gaps_pauses_and_defaults() -> None:
    settings = pacing.check("web", None)
    assert settings["mode"] == "human" and settings["min_gap_s"] >= 5 and settings["daily_cap"] <= 300
    rng = random.Random(7)
    gaps = [pacing.gap(settings, n, rng) for n in range(1, 101)]
    long_ones = [i + 1 for i, g in enumerate(gaps) if g > settings["max_gap_s"]]
    assert long_ones == [25, 50, 75, 100]  # a longer pause after every 25 messages
    short = [g for i, g in enumerate(gaps) if i + 1 not in long_ones]
    assert all(settings["min_gap_s"] <= g <= settings["max_gap_s"] for g in short)
    assert len({round(g, 3) for g in short}) > 90  # random, not a fixed beat
    pacer = Pacer()
    assert pacer.due(settings, 0.0) == 1
    pacer.took(settings, 1, 0.0, rng)
    assert pacer.due(settings, settings["min_gap_s"] - 0.1) == 0


def test_warm_up_doubles_daily_until_the_cap() -> None:
    settings = pacing.check("web", {"warmup_start": 30, "warmup_days": 4, "daily_cap": 200})
    linked = 1_000_000
    caps = [pacing.cap_today(settings, linked, linked + d * DAY_MS + 5) for d in range(6)]
    assert caps == [30, 60, 120, 200, 200, 200]
    assert pacing.cap_today(settings, None, linked) == 200
    assert pacing.cap_today(pacing.check("cloud", None), linked, linked) is None


@pytest.mark.parametrize(("provider", "raw"), [
    ("cloud", {"rate": 0}), ("cloud", {"rate": 81}), ("cloud", {"rate": True}),
    ("cloud", {"min_gap_s": 10}), ("web", {"rate": 5}), ("web", {"min_gap_s": 1}),
    ("web", {"min_gap_s": 30, "max_gap_s": 20}), ("web", {"daily_cap": "300"}), ("web", []),
])
def test_settings_out_of_bounds_are_refused(provider: str, raw: object) -> None:
    with pytest.raises(Invalid):
        pacing.check(provider, raw)


def test_the_mode_follows_the_provider_not_the_request() -> None:
    assert pacing.check("web", {"mode": "rate"})["mode"] == "human"
    assert pacing.check("sandbox", {"mode": "human"})["mode"] == "rate"
