"""Scores equal a hand computation of the documented rules on fixture histories."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from geopublish.ledger.scores import ScoreLog, score_layer, score_publisher


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def stamp(day: int, hour: int) -> str:
    return at(day, hour).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(day, hour, outcome, *, source_ok=True, failed_gates=(), valid=98, checked=100):
    record = {"build_id": f"b{day}{hour}", "outcome": outcome, "finished": stamp(day, hour)}
    if not source_ok:
        record["source_ok"] = False
    if outcome == "published":
        record["counts"] = {"valid_as_read": valid, "checked_geometries": checked, "repaired": 2}
    if failed_gates:
        record["failed_gates"] = list(failed_gates)
    return record


def write_runs(var, cid, runs):
    folder = var / "history" / cid
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))


def test_scores_follow_the_rules_day_by_day(tmp_path):
    runs = [run(1, 6, "published")]
    write_runs(tmp_path, "layer", runs)
    kw = {"interval": "1d", "count": 90, "reference": 100}
    day1 = score_layer(tmp_path, "layer", probe=True, now=at(1, 12), **kw)
    assert day1["today"] == {
        "availability": 1.0,  # 2 checks of 2 answered
        "freshness": 1.0,  # 6 h after the change, interval 1 day
        "conformity": 1.0,
        "validity": 0.98,  # 98 of 100 valid as read
        "completeness": 0.9,  # 90 of 100
    }
    assert day1["scores"] == day1["today"]  # first day: no smoothing

    runs.append(run(2, 6, "failed", source_ok=False))
    write_runs(tmp_path, "layer", runs)
    day2 = score_layer(tmp_path, "layer", probe=True, now=at(2, 12), **kw)
    # 24 h window (1 Nov 12:00, 2 Nov 12:00]: the failed source and today's probe: 50 % -> 0.
    assert day2["inputs"]["checks_24h"] == 2 and day2["inputs"]["answered_24h"] == 1
    assert day2["today"]["availability"] == 0.0
    assert day2["scores"]["availability"] == pytest.approx(0.95 * 1.0 + 0.05 * 0.0)
    assert day2["today"]["freshness"] == 1.0  # 30 h = 1.25 intervals
    assert day2["scores"]["conformity"] == 1.0  # the failed run reached no gate

    # A second computation the same day replaces the day's value, smoothed on day 1 again.
    again = score_layer(tmp_path, "layer", probe=True, now=at(2, 13), **kw)
    assert again["scores"]["availability"] == pytest.approx(0.95)

    runs += [run(4, 6, "unchanged"), run(4, 7, "refused", failed_gates=["max_drop"])]
    write_runs(tmp_path, "layer", runs)
    day4 = score_layer(tmp_path, "layer", probe=True, now=at(4, 12), **kw)
    assert day4["today"]["availability"] == 1.0  # 3 of 3 answered
    assert day4["scores"]["availability"] == pytest.approx(0.95 * 0.95 + 0.05 * 1.0)
    assert day4["today"]["freshness"] == 0.0  # 78 h = 3.25 intervals
    assert day4["scores"]["freshness"] == pytest.approx(0.9 * 1.0 + 0.1 * 0.0)
    assert day4["today"]["conformity"] == 0.0  # refused
    assert day4["scores"]["conformity"] == pytest.approx(0.9)
    assert day4["scores"]["validity"] == pytest.approx(0.98)
    assert [e["at"][:10] for e in ScoreLog(tmp_path, "layer").daily()] == [
        "2026-11-01",
        "2026-11-02",
        "2026-11-04",
    ]


def test_stale_daily_layer_unchanged_three_days(tmp_path):
    """Refresh declared daily, source unchanged for 3 days: freshness 1, 1, 0.5, then 0."""
    runs = [run(1, 4, "published")]
    expected_today = {1: 1.0, 2: 1.0, 3: 0.5, 4: 0.0}  # 0, 1, 2, 3 intervals since the change
    smoothed = None
    for day in (1, 2, 3, 4):
        if day > 1:
            runs.append(run(day, 4, "unchanged"))
        write_runs(tmp_path, "stale", runs)
        entry = score_layer(tmp_path, "stale", interval="1d", count=None, now=at(day, 4))
        assert entry["today"]["freshness"] == expected_today[day]
        today = expected_today[day]
        smoothed = today if smoothed is None else 0.9 * smoothed + 0.1 * today
        assert entry["scores"]["freshness"] == pytest.approx(smoothed)
        assert entry["scores"]["availability"] == 1.0  # every run's source answered
        assert entry["scores"]["completeness"] is None  # no reference declared
    assert smoothed == pytest.approx(0.855)


def test_history_is_bounded(tmp_path, monkeypatch):
    from geopublish.ledger import scores

    monkeypatch.setattr(scores, "KEEP", 5)
    write_runs(tmp_path, "x", [run(1, 1, "published")])
    for hour in range(2, 12):
        score_layer(tmp_path, "x", interval=None, count=1, now=at(1, hour))
    assert len(ScoreLog(tmp_path, "x").read()) == 5


def publisher_run(var, events, day, hour, outcome, check, *, count=45):
    """One run of a federated layer as the publisher saw it: its history line, then its scores."""
    if outcome != "unchanged":
        line = {"at": stamp(day, hour), "outcome": outcome}
        if outcome == "published":
            line["share_valid"] = 0.9  # 45 of 50 rows valid
        events.append(line)
    return score_publisher(
        var, "fed", "cd31", name="Département de la Haute-Garonne", events=list(events),
        check=check, checked=stamp(day, hour), outcome=outcome, interval="1d", count=count,
        reference=50, now=at(day, hour),
    )  # fmt: skip


def test_publisher_scores_follow_the_rules_from_its_own_history(tmp_path):
    events: list[dict] = []
    day1 = publisher_run(tmp_path, events, 1, 6, "published", True)
    assert day1["today"] == {
        "availability": 1.0,  # its file answered in the one run of the last 24 h
        "freshness": 1.0,  # its rows changed just now; its interval is 1 day
        "conformity": 1.0,  # its gate accepted the read
        "validity": 0.9,  # 45 of 50 rows valid
        "completeness": 0.9,  # 45 rows, reference 50
    }
    assert day1["scores"] == day1["today"]

    # The scheduler's hourly computation: no run read the publisher, no new check.
    later = score_publisher(
        tmp_path, "fed", "cd31", name="x", events=list(events), check=True,
        checked=stamp(1, 6), outcome="published", interval="1d", count=45, reference=50,
        now=at(1, 12),
    )  # fmt: skip
    assert later["inputs"]["checks_24h"] == 1 and later["check"] is None

    day2 = publisher_run(tmp_path, events, 2, 5, "failed", False)
    # Window (1 Nov 05:00, 2 Nov 05:00]: the answer of 1 Nov 06:00 and today's failure: 50 %.
    assert (day2["inputs"]["checks_24h"], day2["inputs"]["answered_24h"]) == (2, 1)
    assert day2["today"]["availability"] == 0.0
    assert day2["scores"]["availability"] == pytest.approx(0.95)  # 0.95·1 + 0.05·0
    assert day2["today"]["freshness"] == 1.0  # 23 h since its rows changed
    assert day2["today"]["conformity"] == 1.0  # a failed read reaches no gate
    assert day2["inputs"]["last_outcome"] == "failed"

    day4 = publisher_run(tmp_path, events, 4, 6, "refused", True)
    assert day4["today"]["availability"] == 1.0  # 1 of 1 in (3 Nov 06:00, 4 Nov 06:00]
    assert day4["scores"]["availability"] == pytest.approx(0.95 * 0.95 + 0.05 * 1.0)
    assert day4["today"]["freshness"] == 0.0  # 72 h = 3 intervals since its last change
    assert day4["scores"]["freshness"] == pytest.approx(0.9 * 1.0 + 0.1 * 0.0)
    assert day4["today"]["conformity"] == 0.0  # its gate refused the read
    assert day4["scores"]["conformity"] == pytest.approx(0.9)
    assert day4["scores"]["validity"] == pytest.approx(0.9)  # the kept rows' share
    log = ScoreLog(tmp_path, "fed", "cd31")
    assert log.path == tmp_path / "history/fed/publishers/cd31/scores.jsonl"
    assert [e["at"][:10] for e in log.daily()] == ["2026-11-01", "2026-11-02", "2026-11-04"]
    assert ScoreLog.publishers(tmp_path, "fed") == ["cd31"]


def test_publisher_history_is_bounded(tmp_path, monkeypatch):
    from geopublish.ledger import scores

    monkeypatch.setattr(scores, "KEEP", 3)
    events: list[dict] = []
    for hour in range(1, 8):
        publisher_run(tmp_path, events, 1, hour, "unchanged" if hour > 1 else "published", True)
    assert len(ScoreLog(tmp_path, "fed", "cd31").read()) == 3
