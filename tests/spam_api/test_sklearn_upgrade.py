"""A live deployment moved from scikit-learn 1.7.2 to 1.9.1, with every request answered 200.

The registry is moto over HTTP; each API is the real app (``chalice.test.Client``) serving
from its own runtime, as one Lambda instance does, checking the registry on every request
(``MODEL_REFRESH_SECONDS=0``, the hardest case for a swap). "The function is switched"
is ``stack.aws.deploy.deploy`` run for real against moto, guard included, with ``chalice
deploy`` replaced by a stand-in that starts the new runtime's instances.

- The old API is today's code: ``registry_v1.RegistryReader`` is a frozen copy of the
  reader released before the live pointers (it reads only ``current.json``), running
  scikit-learn 1.7.2 (behind ``ReleasedReader``, which only renames what it hands today's
  holder). The new API is this code's reader running 1.9.1.
- Only one scikit-learn is installed, so both "versions" are made the way the registry
  sees them: every pickle here is written by the installed scikit-learn, and a model
  "made with 1.9.1" is published with a manifest that says 1.9.1, served by a reader whose
  ``runtime_sklearn_version`` is 1.9.1. The version check compares exactly those two
  strings, and unpickling really happens (the installed scikit-learn reads its own
  pickles without an ``InconsistentVersionWarning``), so each 200 is a real prediction;
  a model whose manifest names the other version is refused as in production.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from chalicelib.feedback import FeedbackWriter
from chalicelib.holder import ModelHolder
from chalicelib.registry import Artifacts, Pointer, PointerRead, PointerTag, RegistryReader
from chalicelib.registry_format import current_key, live_key
from chalicelib.runtime import Runtime, install_runtime, reset_runtime
from chalicelib.settings import Settings
from sklearn.linear_model import LogisticRegression

from stack.aws.context import AwsContext, DeployError
from stack.aws.deploy import DeployOptions, Toolchain, deploy
from tests.support import delete_stacks
from trainer.registry import ModelBundle, promote, publish, rollback

from . import registry_v1
from .conftest import API_DIR, PREFIX, body_of, make_bundle, post

# deploy against moto's CloudFormation, four models fitted per test
pytestmark = [pytest.mark.integration, pytest.mark.slow]

OLD, NEW = "1.7.2", "1.9.1"
TEXT = {"text": "WINNER!! You have won a free prize, call now to claim"}
URL = "https://abc123.execute-api.us-east-1.amazonaws.com/api/"


class ReleasedReader:
    """``registry_v1``'s reader as today's holder calls it: a ``PointerTag`` for its string.

    The released reader tags a pointer with one string (``current.json``'s ETag, or its
    legacy pair's), carried here in ``current_etag`` and handed back to it unchanged.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.released = registry_v1.RegistryReader(*args, **kwargs)
        self.prefix = self.released.prefix
        self.runtime_sklearn_version = self.released.runtime_sklearn_version

    def fetch_pointer(self, since: PointerTag | None = None) -> Pointer | None:
        got = self.released.fetch_pointer(if_none_match=since.current_etag if since else None)
        if got is None:
            return None
        read = PointerRead.LEGACY if got.legacy else PointerRead.CURRENT
        return Pointer(got.manifest, PointerTag(read, current_etag=got.etag))

    def load(self, pointer: Pointer) -> Artifacts:
        released = registry_v1.Pointer(
            pointer.manifest, pointer.tag.current_etag or "", legacy=pointer.legacy
        )
        loaded = self.released.load(released)
        return Artifacts(pointer, loaded.vectorizer, loaded.classifier)


@dataclass
class Function:
    """One deployed Lambda function: its code's reader and scikit-learn, its instances."""

    name: str
    reader: type
    sklearn: str
    make: Callable[[Any, str], Runtime]
    instances: list[Runtime] = field(default_factory=list)

    def cold_start(self) -> Runtime:
        runtime = self.make(self.reader, self.sklearn)
        self.instances.append(runtime)
        return runtime


@dataclass
class Stage:
    """A stage: the function new requests start, and every instance still warm."""

    live: Function
    retired: list[Function] = field(default_factory=list)

    def switch(self, to: Function) -> None:
        self.retired.append(self.live)
        self.live = to

    def warm(self) -> list[Runtime]:
        return [i for f in [*self.retired, self.live] for i in f.instances]


class Upgrade:
    """The stage, the registry and the client; ``answer`` checks one request."""

    def __init__(self, client, s3, bucket: str, fitted, project: Path, endpoint: str) -> None:
        self.client, self.s3, self.bucket, self.project = client, s3, bucket, project
        self.ctx = AwsContext(region="us-east-1", endpoint_url=endpoint)
        self.models = {
            name: make_bundle(
                fitted.vectorizer,
                LogisticRegression(C=c, solver="liblinear").fit(
                    fitted.vectorizer.transform(fitted.texts), fitted.labels
                ),
            )
            for name, c in (("a", 10.0), ("b", 0.5), ("c", 2.0), ("d", 30.0))
        }
        self.versions: dict[str, str] = {}
        self.old = Function("old", ReleasedReader, OLD, self._runtime)
        self.stage = Stage(self.old)
        self.answers = 0

    def _runtime(self, reader_cls: type, sklearn_version: str) -> Runtime:
        settings = Settings(model_bucket=self.bucket, model_prefix=PREFIX, model_refresh_seconds=0)
        reader = reader_cls(self.s3, self.bucket, PREFIX, runtime_sklearn_version=sklearn_version)
        holder = ModelHolder(reader, refresh_seconds=0, retry_seconds=0)
        return Runtime(settings, holder, FeedbackWriter(self.s3, self.bucket, "feedback/"))

    def publish(self, name: str, sklearn_version: str) -> str:
        bundle: ModelBundle = self.models[name]
        manifest = publish(
            self.s3, self.bucket, PREFIX, replace(bundle, sklearn_version=sklearn_version)
        )
        self.versions[name] = manifest.version
        return manifest.version

    def answer(self, runtime: Runtime) -> str:
        install_runtime(runtime)
        response = post(self.client, "/predict", TEXT)
        assert response.status_code == 200, response.body
        self.answers += 1
        return body_of(response)["model_version"]

    def everyone(self, cold: bool = True) -> dict[str, set[str]]:
        """Every warm instance answers, and (``cold``) a new one of the live function does."""
        if cold:
            self.stage.live.cold_start()
        served: dict[str, set[str]] = {}
        for function in [*self.stage.retired, self.stage.live]:
            for instance in function.instances:
                served.setdefault(function.name, set()).add(self.answer(instance))
        return served

    def deploy(self, function: Function, trains: str | None = None, **options: Any) -> None:
        """``make deploy`` to ``function``'s scikit-learn; the stand-in switches the stage.

        ``trains``: the model the deploy's trainer publishes, made with that scikit-learn.
        """
        stage = self.stage

        class Chalice:
            def __init__(self, *_args: Any) -> None:
                pass

            def deploy(self, _stage: str) -> str:
                stage.switch(function)
                return URL

        def train_and_publish(ctx, bucket, prefix, data, out, extra_args=()) -> None:
            assert trains is not None, "deploy trained a model the test did not expect"
            self.publish(trains, function.sklearn)

        opts = DeployOptions(
            stage="prod",
            project_dir=self.project,
            bucket=self.bucket,
            skip_layer=True,
            throttle=(0.0, 0),
            yes=True,
            runtime_sklearn=function.sklearn,
            **options,
        )
        tools = Toolchain(train_and_publish=train_and_publish, chalice=Chalice)
        deploy(opts, self.ctx, tools=tools, out=lambda _l: None)


@pytest.fixture
def upgrade(bare_client, s3_client, bucket, fitted, tmp_path, s3_endpoint) -> Iterator[Upgrade]:
    project = tmp_path / "spam_api"
    shutil.copytree(
        API_DIR, project, ignore=shutil.ignore_patterns("deployed", "deployments", "__pycache__")
    )
    run = Upgrade(bare_client, s3_client, bucket, fitted, project, s3_endpoint)
    # Today's registry: what the trainer before live pointers wrote, only current.json.
    run.publish("a", OLD)
    s3_client.delete_object(Bucket=bucket, Key=live_key(PREFIX, OLD))
    yield run
    reset_runtime()
    delete_stacks(s3_endpoint)


def _current(upgrade: Upgrade) -> str:
    raw = upgrade.s3.get_object(Bucket=upgrade.bucket, Key=current_key(PREFIX))["Body"].read()
    return json.loads(raw)["version"]


def test_model_first_then_function_then_old_retired(upgrade) -> None:
    a = upgrade.versions["a"]
    assert upgrade.everyone() == {"old": {a}}

    # 1. publish a model made with the new stack: the old API keeps its model
    b = upgrade.publish("b", NEW)
    assert _current(upgrade) == a
    assert upgrade.everyone() == {"old": {a}}

    # 2. switch the function (deploy's guard finds B); old instances are still warm
    new = Function("new", RegistryReader, NEW, upgrade._runtime)
    upgrade.deploy(new)
    assert upgrade.stage.live is new
    assert upgrade.everyone() == {"old": {a}, "new": {b}}

    # a new-stack publish reaches the new API; the old one keeps serving its own
    c = upgrade.publish("c", NEW)
    assert upgrade.everyone() == {"old": {a}, "new": {c}}

    # 3. old retired: current.json follows the new stack; instances still draining keep A
    promote(upgrade.s3, upgrade.bucket, PREFIX, NEW)
    assert _current(upgrade) == c
    assert upgrade.everyone() == {"old": {a}, "new": {c}}
    upgrade.stage.retired.clear()
    d = upgrade.publish("d", NEW)  # now a publish moves current.json too
    assert _current(upgrade) == d
    assert upgrade.everyone() == {"new": {d}}
    assert upgrade.answers >= 15


def test_function_first_is_guarded_then_trained_by_deploy(upgrade) -> None:
    a = upgrade.versions["a"]
    assert upgrade.everyone() == {"old": {a}}
    new = Function("new", RegistryReader, NEW, upgrade._runtime)

    # what the guard prevents: a 1.9.1 function started now has nothing it can load
    stray = new.make(new.reader, new.sklearn)
    install_runtime(stray)
    assert post(upgrade.client, "/predict", TEXT).status_code == 503

    # 1. switch the function first: deploy stops before changing anything
    with pytest.raises(DeployError, match="no model made with scikit-learn"):
        upgrade.deploy(new)
    assert upgrade.stage.live is upgrade.old
    assert upgrade.everyone() == {"old": {a}}

    # 2. the same deploy, allowed to train: the model is published, then the switch
    upgrade.deploy(new, train_missing_model=True, trains="b")
    b = upgrade.versions["b"]
    assert upgrade.stage.live is new and _current(upgrade) == a
    assert upgrade.everyone() == {"old": {a}, "new": {b}}

    # 3. old retired
    promote(upgrade.s3, upgrade.bucket, PREFIX, NEW)
    upgrade.stage.retired.clear()
    assert upgrade.everyone() == {"new": {b}}


def test_rolling_back_across_the_boundary(upgrade) -> None:
    a = upgrade.versions["a"]
    b = upgrade.publish("b", NEW)
    new = Function("new", RegistryReader, NEW, upgrade._runtime)
    upgrade.deploy(new)
    promote(upgrade.s3, upgrade.bucket, PREFIX, NEW)
    upgrade.stage.retired.clear()
    assert upgrade.everyone() == {"new": {b}}

    # Back to the 1.7.2 stack with this code: the guard finds 1.7.2's own pointer (kept by
    # the migration when B was published), although current.json names 1.9.1.
    back = Function("back", RegistryReader, OLD, upgrade._runtime)
    upgrade.deploy(back)
    assert _current(upgrade) == b
    assert upgrade.everyone() == {"new": {b}, "back": {a}}

    # A model rollback on the 1.7.2 side moves only its pointer.
    a2 = upgrade.publish("c", OLD)
    assert upgrade.everyone() == {"new": {b}, "back": {a2}}
    rollback(upgrade.s3, upgrade.bucket, PREFIX, a)
    assert _current(upgrade) == b
    assert upgrade.everyone() == {"new": {b}, "back": {a}}

    # Back to code from before the pointers: it reads only current.json, so promote 1.7.2
    # first (the 1.9.1 instances still warm then read their own pointer), then deploy it.
    promote(upgrade.s3, upgrade.bucket, PREFIX, OLD)
    assert _current(upgrade) == a
    assert upgrade.everyone() == {"new": {b}, "back": {a}}
    before = Function("before-pointers", ReleasedReader, OLD, upgrade._runtime)
    upgrade.deploy(before)
    assert upgrade.everyone() == {"new": {b}, "back": {a}, "before-pointers": {a}}


def test_a_registry_written_by_todays_code_still_serves_the_new_reader(upgrade) -> None:
    """Only current.json, no pointer: this code on the same scikit-learn serves from it, and
    the deploy that puts it there (this code on 1.7.2) passes its guard without training."""
    a = upgrade.versions["a"]
    assert upgrade.everyone() == {"old": {a}}
    this_code = Function("this-code", RegistryReader, OLD, upgrade._runtime)
    upgrade.deploy(this_code)
    assert upgrade.everyone() == {"old": {a}, "this-code": {a}}
    keys = {o["Key"] for o in upgrade.s3.list_objects_v2(Bucket=upgrade.bucket)["Contents"]}
    assert live_key(PREFIX, OLD) not in keys  # served from current.json alone
