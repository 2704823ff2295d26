"""The adaptation curve's bench rows: each point against k = 0, the issues' floors as targets."""

from __future__ import annotations

from bench.adaptation_loop import rows


def _point(k: int, mcc: float, base: float, number: int | None = None) -> dict:
    point = {
        "k": k,
        "reported_spam": k // 4,
        "new": {"mcc": mcc, "recall": 0.8, "ham_blocked": 0.01},
        "base_mcc": base,
        "seconds": 1.0,
    }
    if number is not None:
        point["round"] = number
    return point


def _result(**changes) -> dict:
    result = {
        "k0": _point(0, 0.2, 0.9686),
        "random": [_point(200, 0.86, 0.9600)],
        "rounds": [_point(50, 0.60, 0.9686, 1), _point(100, 0.80, 0.9640, 2)],
    }
    result.update(changes)
    return result


def test_random_k200_needs_the_floor_and_every_point_keeps_the_base_source() -> None:
    assert [r.result for r in rows(_result())] == ["PASS"] * 4
    assert rows(_result(random=[_point(200, 0.84, 0.9686)]))[1].result == "MISS"
    assert rows(_result(random=[_point(200, 0.90, 0.9500)]))[1].result == "MISS"  # base -0.019
    assert "4.30×" in rows(_result())[1].ratio


def test_a_round_may_not_fall_more_than_002_below_the_one_before() -> None:
    fell = [_point(50, 0.80, 0.9686, 1), _point(100, 0.77, 0.9686, 2)]
    assert [r.result for r in rows(_result(rounds=fell))][2:] == ["PASS", "MISS"]
    within = [_point(50, 0.80, 0.9686, 1), _point(100, 0.785, 0.9686, 2)]
    assert [r.result for r in rows(_result(rounds=within))][2:] == ["PASS", "PASS"]
    low_first = [_point(50, 0.30, 0.9686, 1)]  # the first round has no round before it
    assert rows(_result(rounds=low_first))[2].result == "PASS"
    at_200 = [_point(150, 0.84, 0.9686, 3), _point(200, 0.845, 0.9686, 4)]
    assert rows(_result(rounds=at_200))[3].result == "MISS"  # under the 0.85 floor at k = 200
    assert "round 2" in rows(_result())[3].measure


def _queued(k: int, mcc: float, base: float, number: int) -> dict:
    point = _point(k, mcc, base, number)
    point.update(strategy="queue", random_labelled=min(k, 50))
    return point


def test_the_queue_at_k100_must_beat_random_reports_at_k100_and_reach_085_at_200() -> None:
    random_100 = [_point(100, 0.798, 0.9686)]
    beats = _result(
        random=random_100, queue=[_queued(50, 0.66, 0.9686, 1), _queued(100, 0.81, 0.9686, 2)]
    )
    table = rows(beats)
    assert [r.result for r in table] == ["PASS"] * len(table)
    assert "random reports' 0.798" in table[-1].target and "round 2" in table[-1].measure
    assert "from the random stratum" in table[-1].notes
    loses = _result(random=random_100, queue=[_queued(100, 0.79, 0.9686, 2)])
    assert rows(loses)[-1].result == "MISS"
    short = _result(random=random_100, queue=[_queued(100, 0.90, 0.9500, 2)])  # base -0.019
    assert rows(short)[-1].result == "MISS"
    alone = _result(random=[], queue=[_queued(100, 0.30, 0.9686, 2)])  # nothing to beat
    assert rows(alone)[-1].result == "PASS"
    at_200 = _result(queue=[_queued(200, 0.84, 0.9686, 4)])
    assert rows(at_200)[-1].result == "MISS"
