"""``python -m vendor_build build | verify | publish``: the scikit-learn layer's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vendor_build.build import (
    DEFAULT_NAIVE_OUT,
    DEFAULT_OUT,
    DEFAULT_PLATFORM,
    DEFAULT_PYTHON_VERSION,
    DEFAULT_WHEEL_DIR,
    build_layer,
    build_naive_layer,
)
from vendor_build.pins import DEFAULT_REQUIREMENTS
from vendor_build.publish import DEFAULT_CONFIG, DEFAULT_LAYER_NAME, publish_layer
from vendor_build.report import LayerTooLargeError
from vendor_build.verify import VerifyError, time_cold_import, unpack_layer, verify_layer

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vendor_build", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build, measure and size-check the layer zip")
    build.add_argument("--out", type=Path, default=None, help=f"default {DEFAULT_OUT}")
    build.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION)
    build.add_argument("--platform", default=DEFAULT_PLATFORM)
    build.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS)
    build.add_argument("--wheel-dir", type=Path, default=DEFAULT_WHEEL_DIR)
    build.add_argument(
        "--python", help="interpreter of --python-version for bytecode (default: this one)"
    )
    build.add_argument(
        "--no-strip", action="store_true", help="keep extension symbols (needed off x86_64)"
    )
    build.add_argument(
        "--no-prune", action="store_true", help="keep subpackages the API never imports"
    )
    build.add_argument(
        "--keep-sources", action="store_true", help="ship .py beside __pycache__ (bigger)"
    )
    build.add_argument(
        "--naive",
        action="store_true",
        help="build the tutorial's untrimmed, bytecode-less layer instead (baseline)",
    )

    verify = commands.add_parser(
        "verify", help=f"import and predict in an isolated python{DEFAULT_PYTHON_VERSION}"
    )
    verify.add_argument("zip", type=Path)
    verify.add_argument("--model-dir", type=Path, help="holds vectorizer.pkl + spam_model.pkl")
    verify.add_argument("--spam-label", help="the model's spam class (default: auto)")
    verify.add_argument("--repeat", type=int, default=3, help="cold-import runs to time")
    verify.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION)
    verify.add_argument(
        "--python", help="interpreter to run (default: a base python of --python-version)"
    )
    verify.add_argument(
        "--baseline", type=Path, help="also time this zip's cold import (e.g. the naive layer)"
    )
    verify.add_argument("--json", type=Path, help="write the result here")

    publish = commands.add_parser("publish", help="upload, publish_layer_version, write the ARN")
    publish.add_argument("--zip", type=Path, default=DEFAULT_OUT / "sklearn-layer.zip")
    publish.add_argument("--bucket", required=True)
    publish.add_argument("--key", help="S3 key (default: layers/<name>/<sha256>.zip)")
    publish.add_argument("--layer-name", default=DEFAULT_LAYER_NAME)
    publish.add_argument("--stage", default="dev")
    publish.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    publish.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION)
    publish.add_argument("--architecture", default="x86_64", choices=["x86_64", "arm64"])
    publish.add_argument("--region", help="default: the AWS SDK's")
    publish.add_argument("--endpoint-url", help="one endpoint for S3 and Lambda (moto server)")
    return parser


def _build(args: argparse.Namespace) -> int:
    common = {
        "requirements_file": args.requirements,
        "python_version": args.python_version,
        "platform": args.platform,
        "wheel_dir": args.wheel_dir,
    }
    if args.naive:
        build_naive_layer(args.out or DEFAULT_NAIVE_OUT, **common)
        return 0
    try:
        build_layer(
            args.out or DEFAULT_OUT,
            strip=not args.no_strip,
            prune=not args.no_prune,
            sourceless=not args.keep_sources,
            python=args.python,
            **common,
        )
    except LayerTooLargeError as exc:
        print(f"BUILD FAILED: {exc}", file=sys.stderr)
        return 2
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        result = verify_layer(
            args.zip,
            model_dir=args.model_dir,
            spam_label=args.spam_label,
            repeat=args.repeat,
            python=args.python,
            python_version=args.python_version,
        )
        if args.baseline:
            import tempfile

            with tempfile.TemporaryDirectory(prefix="layer-baseline-") as scratch:
                opt = unpack_layer(args.baseline, Path(scratch) / "opt")
                timing = time_cold_import(
                    opt,
                    label=f"baseline {args.baseline}",
                    repeat=args.repeat,
                    python=args.python,
                    python_version=args.python_version,
                )
            result.cold_imports.append(timing)
            print(
                f"cold import (baseline): {timing.median_import_s:.2f} s imports "
                f"({timing.median_import_cpu_s:.2f} s CPU), {timing.median_process_s:.2f} s "
                f"whole process"
            )
    except VerifyError as exc:
        print(f"VERIFY FAILED: {exc}", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(result.summary(), indent=2) + "\n")
    return 0


def _publish(args: argparse.Namespace) -> int:
    arn = publish_layer(
        args.zip,
        bucket=args.bucket,
        key=args.key,
        layer_name=args.layer_name,
        stage=args.stage,
        config_path=args.config,
        python_version=args.python_version,
        architecture=args.architecture,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )
    print(f"published {arn}; written to {args.config} stages.{args.stage}.layers")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = _parser().parse_args(argv)
    handlers = {"build": _build, "verify": _verify, "publish": _publish}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
