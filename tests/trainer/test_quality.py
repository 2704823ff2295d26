"""The live error rates (``trainer.quality``, ``monitor --quality``): the interval against
published values and a hand-checked weighted case, its coverage (exact, and by simulation
with weights when the capture rate changed), the report per model version from the random
stratum only, and the command against moto."""

from __future__ import annotations

import json

import numpy as np
import pytest
from chalicelib.capture_format import CaptureRecord, record_key
from scipy.stats import binom

from tests.support import capture_record
from trainer.cli import EXIT_OK, main
from trainer.quality import quality_report, weighted_interval, wilson_interval


@pytest.mark.parametrize(
    ("x", "n", "lo", "hi"),
    [  # Newcombe (1998), Statistics in Medicine 17, table I: the Wilson score interval
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
    ],
)
def test_the_interval_is_wilsons_on_published_examples(x, n, lo, hi) -> None:
    got = wilson_interval(x / n, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_a_weighted_share_uses_kishs_effective_size_checked_by_hand() -> None:
    # 20 records kept at rate r (weight 1), 10 of them hits; 40 kept at r / 2 (weight 2), 10
    # hits: p = (10 + 2 * 10) / (20 + 2 * 40) = 0.3; n_eff = 100^2 / (20 + 40 * 4) = 55.56;
    # Wilson on (0.3, 55.56): centre 0.31293, half 1.83320 * sqrt(0.0040912) = 0.11726
    hits = np.r_[np.ones(10), np.zeros(10), np.ones(10), np.zeros(30)]
    weights = np.r_[np.ones(20), np.full(40, 2.0)]
    interval = weighted_interval(hits, weights)
    assert interval.est == pytest.approx(0.3)
    assert interval.n == 60 and interval.n_eff == pytest.approx(55.5556, abs=1e-4)
    assert (interval.lo, interval.hi) == pytest.approx((0.19568, 0.43019), abs=5e-5)
    assert weighted_interval(np.array([]), np.array([])) is None


def test_one_success_or_failure_takes_the_poisson_bound() -> None:
    lo, hi = wilson_interval(1 / 60, 60)
    assert lo == pytest.approx(0.051293 / 60, rel=1e-4)  # -ln(0.95) / n
    lo2, hi2 = wilson_interval(59 / 60, 60)
    assert (lo2, hi2) == pytest.approx((1 - hi, 1 - lo))


@pytest.mark.parametrize("n", [50, 100, 200])
def test_the_interval_covers_95_percent_on_average_and_never_far_below(n: int) -> None:
    """Exact coverage (binomial probabilities) over true shares from 0.001 to 0.5."""
    x = np.arange(n + 1)
    bounds = np.array([wilson_interval(k / n, n) for k in x])
    coverage = []
    for p in np.linspace(0.001, 0.5, 400):
        inside = (bounds[:, 0] <= p) & (p <= bounds[:, 1])
        coverage.append(binom.pmf(x, n, p)[inside].sum())
    coverage = np.array(coverage)
    assert coverage.mean() >= 0.945
    assert coverage.min() >= 0.91  # plain Wilson falls to 0.84 near 0 (one success in n)


def test_weights_keep_the_coverage_when_the_rate_changed() -> None:
    """Two periods of 5,000 messages each; the first kept at 2 %, the second at 1 %; the
    model errs on 10 % of the first's ham and 30 % of the second's: 20 % of the traffic."""
    rng = np.random.default_rng(24)
    truth, covered, unweighted = 0.2, 0, 0
    trials = 2000
    for _ in range(trials):
        first, second = rng.binomial(5000, 0.02), rng.binomial(5000, 0.01)
        hits = np.r_[rng.random(first) < 0.1, rng.random(second) < 0.3]
        weights = np.r_[np.full(first, 1 / 0.02), np.full(second, 1 / 0.01)]
        interval = weighted_interval(hits, weights)
        covered += interval.lo <= truth <= interval.hi
        plain = weighted_interval(hits, np.ones(hits.size))
        unweighted += plain.lo <= truth <= plain.hi
    assert covered / trials >= 0.93
    assert unweighted / trials < 0.85  # unweighted, the first period's 10 % counts double


def record(
    n: int, version: str, stratum: str, label: str, flagged: bool, rate: float = 0.05
) -> CaptureRecord:
    kept = capture_record(n, stratum, version=version, stored=0.8 if flagged else 0.2, rate=rate)
    return kept.labelled(label, by="ann", at="2026-12-08T09:00:00.000000Z")


def sample() -> list[CaptureRecord]:
    """v1: 40 ham (2 blocked) and 10 spam (8 caught); v2: 20 ham, none blocked, no spam;
    30 uncertain records that, if counted, would double v1's errors."""
    records, n = [], 0
    for version, label, flagged, count in (
        ("v1", "ham", True, 2),
        ("v1", "ham", False, 38),
        ("v1", "spam", True, 8),
        ("v1", "spam", False, 2),
        ("v2", "ham", False, 20),
    ):
        for _ in range(count):
            n += 1
            records.append(record(n, version, "random", label, flagged))
    for i in range(30):
        n += 1
        records.append(record(n, "v1", "uncertain", "ham", i % 2 == 0))
    return records


def test_the_report_is_per_version_from_the_random_stratum_only() -> None:
    report = quality_report(sample())
    assert report.uncertain_left_out == 30 and report.used == 70
    v1, v2 = report.versions
    assert (v1.model_version, v1.labelled, v1.ham, v1.spam) == ("v1", 50, 40, 10)
    assert v1.ham_blocked.est == pytest.approx(2 / 40)
    assert v1.recall.est == pytest.approx(8 / 10)
    assert v1.accuracy.est == pytest.approx(46 / 50)
    assert (v1.ham_blocked.lo, v1.ham_blocked.hi) == pytest.approx(wilson_interval(0.05, 40))
    assert v2.recall is None and v2.ham_blocked.est == 0.0
    assert report.as_json() == {
        "versions": [
            {
                "model_version": "v1",
                "labelled": 50,
                "ham_blocked": v1.ham_blocked.as_list(),
                "recall": v1.recall.as_list(),
                "accuracy": v1.accuracy.as_list(),
            },
            {
                "model_version": "v2",
                "labelled": 20,
                "ham_blocked": v2.ham_blocked.as_list(),
                "recall": None,
                "accuracy": v2.accuracy.as_list(),
            },
        ]
    }


def test_records_kept_at_another_rate_are_weighed_by_it() -> None:
    records = [record(i, "v1", "random", "ham", i < 10, rate=0.02) for i in range(50)]
    records += [record(100 + i, "v1", "random", "ham", False, rate=0.01) for i in range(50)]
    (v1,) = quality_report(records).versions
    # 10 of 50 blocked at 2 % stand for 500 of 2,500; 0 of 50 at 1 % for 0 of 5,000
    assert v1.ham_blocked.est == pytest.approx(500 / 7500)
    assert v1.rates == 2 and v1.ham_blocked.n_eff == pytest.approx(150**2 / (50 + 50 * 4))


@pytest.mark.slow  # trains and publishes a model, then reads the store: seconds
@pytest.mark.usefixtures("trainer_env")
def test_monitor_quality_reads_the_labelled_captures_in_the_bucket(
    s3_client, s3_endpoint, bucket, capsys
) -> None:
    records = sample()
    for r in records:
        s3_client.put_object(
            Bucket=bucket, Key=record_key("capture/", "labelled", r.id), Body=r.to_json()
        )
    pending = capture_record(999, version="v3", stored=0.9)
    s3_client.put_object(
        Bucket=bucket, Key=record_key("capture/", "pending", pending.id), Body=pending.to_json()
    )
    registry = ["--bucket", bucket, "--endpoint-url", s3_endpoint]

    assert main(["monitor", "--quality", "--json", *registry]) == EXIT_OK
    assert json.loads(capsys.readouterr().out) == quality_report(records).as_json()

    assert main(["monitor", "--quality", *registry]) == EXIT_OK
    out = capsys.readouterr().out
    assert "used 70 labelled record(s) of the random stratum; left out 30" in out
    v1 = next(line for line in out.splitlines() if line.startswith("v1 "))
    assert "5.0 % [" in v1 and "of 40" in v1 and "80.0 % [" in v1 and "92.0 % [" in v1
    assert "v3" not in out  # pending records are not labels
