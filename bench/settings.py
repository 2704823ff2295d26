"""How much the bench measures and where it keeps things: one frozen dataclass.

Counts are sized so a full run fits in 10 minutes on 2 cores including the first layer
build (a fresh machine downloads the wheels first); ``--quick`` shrinks them for a
smoke run. Paths default to the repository layout and ``../shared/data`` beside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["REPO_ROOT", "BenchSettings"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchSettings:
    """Every knob of one bench run."""

    repo: Path = REPO_ROOT
    build_dir: Path = REPO_ROOT / "build" / "bench"
    results_dir: Path = REPO_ROOT / "bench" / "results"
    data_dir: Path = Path(os.environ.get("SHARED_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    #: Warm latency: requests per handler, interleaved, after a warm-up.
    warm_iterations: int = 1500
    warm_warmup: int = 100
    #: Batch: rounds of (100 single calls, one batch call of 100).
    batch_size: int = 100
    batch_rounds: int = 15
    #: The metrics' cost: calls per variant (on, off), interleaved, single and batch.
    metrics_iterations: int = 1500
    metrics_batch_iterations: int = 150
    #: Capture's cost: calls per variant (off, at 1 %, every call), interleaved.
    capture_iterations: int = 1500
    #: Cold start: fresh interpreters per variant (after one discarded run).
    cold_runs: int = 15
    cold_runs_tutorial: int = 2
    #: HTTP load on ``chalice local``: both budgets bound the run.
    http_concurrency: int = 4
    http_max_requests: int = 3000
    http_max_seconds: float = 10.0
    #: The Chalice stage whose memory size and environment Lambda would use.
    stage: str = "dev"
    #: The old layer whose cold import floor the python3.13 layer's is compared with: its pins
    #: (every package the file pins is installed) and the Python it was built for.
    baseline_requirements: Path = REPO_ROOT / "bench" / "baseline-py311-requirements.txt"
    baseline_python: str = "3.11"
    #: CV folds of the SMS + SpamAssassin quality run (section 1): the trainer's protocol has
    #: 5, which would take about two minutes more than the bench's budget leaves it.
    mixed_folds: int = 3
    #: Rebuild cached layers even when a build exists.
    rebuild: bool = False
    with_spamassassin: bool = True

    @property
    def sms_path(self) -> Path:
        """The UCI SMS Spam Collection file."""
        return self.data_dir / "sms_spam_collection" / "SMSSpamCollection"

    @property
    def spamassassin_dir(self) -> Path:
        """The SpamAssassin corpus, one folder per set."""
        return self.data_dir / "spamassassin"

    @property
    def api_dir(self) -> Path:
        """The Chalice project."""
        return self.repo / "spam_api"

    def quick(self) -> BenchSettings:
        """Small counts for a smoke run (figures are noisier; the table says so)."""
        return replace(
            self,
            warm_iterations=300,
            warm_warmup=30,
            batch_rounds=3,
            metrics_iterations=300,
            metrics_batch_iterations=30,
            capture_iterations=300,
            cold_runs=2,
            cold_runs_tutorial=1,
            http_max_requests=300,
            http_max_seconds=5.0,
            mixed_folds=2,
        )
