"""The holder's timing rules, with a fake S3 that counts calls and a fake clock."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from chalicelib.holder import LoadCounts, ModelHolder, ModelUnavailableError
from chalicelib.registry import RegistryReader

from tests.support import FakeClock
from trainer.registry import publish

from .conftest import PREFIX
from .fakes import FakeS3


@pytest.fixture
def fake(bundle):
    s3 = FakeS3()
    s3.create_bucket(Bucket="fake-bucket")
    publish(s3, "fake-bucket", PREFIX, bundle)
    s3.calls.clear()
    return s3


def make(s3, clock, **kwargs) -> ModelHolder:
    return ModelHolder(RegistryReader(s3, "fake-bucket", PREFIX), clock=clock, **kwargs)


def test_no_s3_call_between_checks_and_a_304_after(fake) -> None:
    clock = FakeClock()
    holder = make(fake, clock, refresh_seconds=30)
    first = holder.load()
    assert [op for op, _ in fake.calls] == ["GetObject"] * 3  # current.json + 2 artifacts
    fake.calls.clear()
    for _ in range(100):
        assert holder.current() is first
        clock.advance(0.25)
    assert fake.calls == []
    clock.advance(10)
    assert holder.current() is first
    assert fake.calls == [("GetObject", f"{PREFIX}current.json")]  # answered 304
    assert holder.state.checked_at == clock()
    assert holder.state.failure is None


def test_outage_while_serving_is_degraded_then_clears(fake) -> None:
    clock = FakeClock()
    holder = make(fake, clock, refresh_seconds=5)
    live = holder.load()
    fake.down = True
    clock.advance(6)
    assert holder.current() is live
    failure = holder.state.failure
    assert failure is not None and failure.kind == "registry_unavailable"
    fake.down = False
    clock.advance(6)
    assert holder.current() is live
    assert holder.state.failure is None


def test_an_unexpected_error_in_the_registry_check_keeps_the_live_model(fake) -> None:
    clock = FakeClock()
    holder = make(fake, clock, refresh_seconds=5)
    live = holder.load()

    def broken(*args, **kwargs):
        raise RuntimeError("secret detail from deep inside botocore")

    holder.reader.fetch_pointer = broken
    clock.advance(6)
    assert holder.current() is live
    failure = holder.state.failure
    assert failure is not None and "unexpectedly" in failure.message
    assert "secret detail" not in failure.message


def test_no_model_retries_at_most_every_retry_seconds(fake) -> None:
    clock = FakeClock()
    fake.down = True
    holder = make(fake, clock, retry_seconds=5)
    with pytest.raises(ModelUnavailableError) as caught:
        holder.current()
    assert caught.value.retry_after >= 1
    attempts = len(fake.calls)
    for _ in range(10):
        with pytest.raises(ModelUnavailableError):
            holder.current()
        clock.advance(0.4)
    assert len(fake.calls) == attempts  # 4 s later: not retried yet
    fake.down = False
    clock.advance(1.1)
    assert holder.current().version == holder.state.live.version


def test_load_is_explicit_and_raises_when_nothing_loads() -> None:
    s3 = FakeS3()
    s3.create_bucket(Bucket="fake-bucket")
    holder = make(s3, FakeClock())
    assert s3.calls == []
    with pytest.raises(ModelUnavailableError, match="no model"):
        holder.load()


def test_live_now_never_touches_the_registry(fake) -> None:
    clock = FakeClock()
    holder = make(fake, clock, refresh_seconds=5)
    assert holder.live_now() is None and fake.calls == []  # no model, and no load started
    live = holder.load()
    fake.calls.clear()
    clock.advance(60)  # a check is due: current() would make one, live_now() does not
    assert holder.live_now() is live
    assert fake.calls == []


def test_live_now_answers_while_a_load_holds_the_lock(fake) -> None:
    holder = make(fake, FakeClock())
    loading, release = threading.Event(), threading.Event()
    fetch = holder.reader.fetch_pointer

    def stuck(**kwargs):
        loading.set()
        release.wait(60)
        return fetch(**kwargs)

    holder.reader.fetch_pointer = stuck
    loader = threading.Thread(target=holder.load, daemon=True)
    loader.start()
    try:
        assert loading.wait(30), "the load never reached the registry"
        assert holder.live_now() is None  # answered while the load is stuck inside the lock
        assert loader.is_alive()
    finally:
        release.set()
        loader.join(30)
    assert holder.live_now() is holder.state.live is not None


def test_counts_say_what_the_holder_did_since_they_were_last_taken(fake, bundle) -> None:
    """A model made live and a failed check count once each; a 304 or a wait, nothing."""
    clock = FakeClock()
    holder = make(fake, clock, refresh_seconds=5)
    assert holder.counts.take() == (0, 0, 0)
    holder.load()
    for _ in range(3):
        holder.current()
        clock.advance(6)  # a check each time: answered 304
    assert holder.counts.take() == (1, 0, 0)
    assert holder.counts.take() == (0, 0, 0)  # taken means gone
    fake.down = True
    holder.current()
    clock.advance(6)
    holder.current()
    fake.down = False
    clock.advance(6)
    holder.current()  # the outage is over: nothing new loaded, nothing failed
    assert holder.counts.take() == (0, 2, 0)
    later = datetime(2030, 1, 1, tzinfo=UTC)  # versions are named by time: another one
    publish(fake, "fake-bucket", PREFIX, replace(bundle, threshold=0.4), now=later)
    clock.advance(6)
    swapped = holder.current()
    assert swapped.threshold == 0.4
    holder.counts.add(cold_starts=1)
    assert holder.counts.take() == (1, 0, 1)


def test_counts_add_up_from_many_threads() -> None:
    counts = LoadCounts()

    def add() -> None:
        for _ in range(1000):
            counts.add(loads=1, failures=2)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts.take() == (4000, 8000, 0)
