"""Deploy's guard: never switch a function to a scikit-learn the registry has no model for.

The API refuses a model pickled by another scikit-learn, so a function switched to a new
layer with only old models published would answer 503 on every cold start. Before
anything changes, deploy asks the registry what a function with the stage's scikit-learn
(the one ``requirements-train.txt`` pins: the layer deploy builds, and the trainer it
runs) would load, with the API's own reader and read order, and then

- a model for it exists (``current.json`` naming it, or ``live/sklearn-<X>.json``): go on;
- nothing is published at all (a first deploy): the model step trains and publishes one;
- only models for other scikit-learn versions are live (an upgrade): with
  ``--train-missing-model`` the model step trains and publishes one for X first
  (``current.json`` stays with the old functions); without it, deploy stops before
  changing anything and prints the command that publishes one.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chalicelib.registry import RegistryReader
from chalicelib.registry_format import ArtifactNotFoundError, Manifest, RegistryError
from chalicelib.s3_errors import NOT_FOUND_CODES, error_code

from stack import REPO_ROOT
from stack.aws.context import AwsContext, DeployError

__all__ = ["ModelCheck", "check_model", "missing_model_error", "pinned_sklearn_version"]


def pinned_sklearn_version() -> str:
    """The scikit-learn the layer is built with and the trainer pickles with (the pins)."""
    from vendor_build.pins import read_pins

    return read_pins()["scikit-learn"]


@dataclass(frozen=True)
class ModelCheck:
    """What a function with scikit-learn ``runtime`` would load from the registry.

    ``found``: the manifest it loads (made with ``runtime``), or ``None``. ``live``: what
    is live for other readers, as ``(key, manifest)``; empty when nothing is published.
    """

    runtime: str
    found: Manifest | None
    live: tuple[tuple[str, Manifest], ...] = field(default=())

    @property
    def empty(self) -> bool:
        """Nothing is published: a first deploy (a legacy bucket-root pair counts as none)."""
        return self.found is None and not self.live

    def describe_live(self) -> str:
        return "; ".join(
            f"{key} names {m.version} (scikit-learn {m.sklearn_version})" for key, m in self.live
        )


def check_model(s3: Any, bucket: str, prefix: str, runtime: str) -> ModelCheck:
    """Read the registry as a function with ``runtime`` would; make no change."""
    from trainer.registry import registry_status

    reader = RegistryReader(s3, bucket, prefix, runtime_sklearn_version=runtime)
    try:
        pointer = reader.fetch_pointer()
        status = registry_status(s3, bucket, prefix)
    except ArtifactNotFoundError:
        return ModelCheck(runtime=runtime, found=None)
    except RegistryError as exc:
        raise DeployError(f"cannot read the model registry s3://{bucket}/{prefix}: {exc}") from exc
    live = ((("current.json", status.current),) if status.current else ()) + tuple(
        (f"live/sklearn-{sk}.json", m) for sk, m in sorted(status.live.items())
    )
    manifest = pointer.manifest if pointer is not None and not pointer.legacy else None
    if manifest is None or manifest.sklearn_version != runtime:
        return ModelCheck(runtime=runtime, found=None, live=live)
    for ref in manifest.artifacts.values():  # the reader would fail on a missing pickle
        try:
            s3.head_object(Bucket=bucket, Key=ref.key)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return ModelCheck(runtime=runtime, found=None, live=live)
            raise DeployError(f"cannot read s3://{bucket}/{ref.key}: {exc}") from exc
        except BotoCoreError as exc:
            raise DeployError(f"cannot read s3://{bucket}/{ref.key}: {exc}") from exc
    return ModelCheck(runtime=runtime, found=manifest, live=live)


def publish_command(
    ctx: AwsContext, bucket: str, prefix: str, data: Path | None, train_args: tuple[str, ...]
) -> str:
    """The trainer command, as a person would type it, that publishes a model for this stack."""
    env = [f"MODEL_BUCKET={bucket}", f"MODEL_PREFIX={prefix}", f"AWS_REGION={ctx.region}"]
    if ctx.profile:
        env.append(f"AWS_PROFILE={ctx.profile}")
    python = Path(sys.executable)
    shown = str(python.relative_to(REPO_ROOT)) if python.is_relative_to(REPO_ROOT) else str(python)
    argv = [shown, "-m", "trainer", "train", "--publish"]
    if data is not None:
        argv += ["--data", str(data)]
    argv += list(train_args)
    if ctx.endpoint_url:
        argv += ["--endpoint-url", ctx.endpoint_url]
    return " ".join([*env, *(shlex.quote(a) for a in argv)])


def missing_model_error(check: ModelCheck, bucket: str, stage: str, command: str) -> DeployError:
    """Why deploy stops, and the commands that let it go on."""
    state = "nothing is published" if check.empty else f"what is live: {check.describe_live()}"
    return DeployError(
        f"the model registry in s3://{bucket} has no model made with scikit-learn {check.runtime}, "
        f"the version stage {stage!r} runs after this deploy ({state}). Switching the "
        f"function now would leave its cold starts nothing they can load. Publish one with "
        f"this checkout's stack first (current.json stays with the functions that run "
        f"another scikit-learn):\n    {command}\nthen deploy again, or deploy with "
        f"--train-missing-model to have deploy train and publish it first. Nothing has been "
        f"changed."
    )
