"""``python -m vendor_build build | verify | publish``: the scikit-learn layer's command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vendor_build.build import (
    DEFAULT_PYTHON_VERSION,
    DEFAULT_WHEEL_DIR,
    build_layer,
    build_naive_layer,
    default_out,
)
from vendor_build.elf import BinaryCheckError
from vendor_build.layer_checks import LayerCheckError
from vendor_build.pins import DEFAULT_REQUIREMENTS, RUNTIME_PACKAGES
from vendor_build.publish import (
    DEFAULT_CONFIG,
    DEFAULT_LAYER_NAME,
    publish_layer,
    target_of_build,
)
from vendor_build.report import LayerTooLargeError
from vendor_build.targets import ARCHITECTURES, TargetError
from vendor_build.verify import VerifyError
from vendor_build.verify_cli import verify_command

__all__ = ["main"]


def _package_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("name at least one distribution")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vendor_build", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build, measure and size-check the layer zip")
    build.add_argument(
        "--out", type=Path, default=None, help="default build/layer (build/layer-arm64 for arm64)"
    )
    build.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION)
    build.add_argument("--arch", default="x86_64", choices=ARCHITECTURES)
    build.add_argument("--platform", help="pip's --platform (default: the target's)")
    build.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS)
    build.add_argument(
        "--packages",
        type=_package_list,
        default=RUNTIME_PACKAGES,
        help=f"comma-separated distributions to install at their pins "
        f"(default {','.join(RUNTIME_PACKAGES)})",
    )
    build.add_argument("--wheel-dir", type=Path, default=DEFAULT_WHEEL_DIR)
    build.add_argument(
        "--python", help="interpreter of --python-version for bytecode (default: this one)"
    )
    build.add_argument("--no-strip", action="store_true", help="keep extension symbols")
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
        "verify", help="import and predict in an isolated interpreter (arm64: emulated)"
    )
    verify.add_argument("zip", type=Path)
    verify.add_argument("--arch", default="x86_64", choices=ARCHITECTURES)
    verify.add_argument(
        "--reference",
        type=Path,
        help="train the model and take the expected answers from this layer, run natively "
        "(e.g. the x86_64 layer of the same pins) instead of from this environment",
    )
    verify.add_argument(
        "--compare-to", type=Path, help="the other architecture's layer: file lists must match"
    )
    verify.add_argument("--arm64-root", type=Path, help="the Debian arm64 root (default build/)")
    verify.add_argument("--model-dir", type=Path, help="holds vectorizer.pkl + spam_model.pkl")
    verify.add_argument("--spam-label", help="the model's spam class (default: auto)")
    verify.add_argument(
        "--repeat",
        type=int,
        help="cold-import runs to time (default 3; 0 when emulated: a run takes minutes there)",
    )
    verify.add_argument("--python-version", default=DEFAULT_PYTHON_VERSION)
    verify.add_argument("--python", help="interpreter to run (default: a base one of the version)")
    verify.add_argument(
        "--baseline", type=Path, help="also time this zip's cold import (e.g. the naive layer)"
    )
    verify.add_argument("--json", type=Path, help="write the result here")

    publish = commands.add_parser("publish", help="upload, publish_layer_version, write the ARN")
    publish.add_argument("--zip", type=Path, default=default_out() / "sklearn-layer.zip")
    publish.add_argument("--bucket", required=True)
    publish.add_argument("--key", help="S3 key (default: layers/<name>/<sha256>.zip)")
    publish.add_argument("--layer-name", default=DEFAULT_LAYER_NAME)
    publish.add_argument("--stage", default="dev")
    publish.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    publish.add_argument(
        "--python-version",
        help=f"default: the build report's beside the zip, else {DEFAULT_PYTHON_VERSION}",
    )
    publish.add_argument(
        "--architecture",
        "--arch",
        choices=ARCHITECTURES,
        help="default: the build report's beside the zip, else x86_64",
    )
    publish.add_argument("--region", help="default: the AWS SDK's")
    publish.add_argument("--endpoint-url", help="one endpoint for S3 and Lambda (moto server)")
    return parser


def _build(args: argparse.Namespace) -> int:
    common = {
        "requirements_file": args.requirements,
        "python_version": args.python_version,
        "arch": args.arch,
        "platform": args.platform,
        "wheel_dir": args.wheel_dir,
        "packages": args.packages,
    }
    if args.naive:
        build_naive_layer(args.out or default_out(args.arch, naive=True), **common)
        return 0
    try:
        build_layer(
            args.out or default_out(args.arch),
            strip=not args.no_strip,
            prune=not args.no_prune,
            sourceless=not args.keep_sources,
            python=args.python,
            **common,
        )
    except (LayerTooLargeError, LayerCheckError, BinaryCheckError) as exc:
        print(f"BUILD FAILED: {exc}", file=sys.stderr)
        return 2
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        summary = verify_command(args)
    except (VerifyError, LayerCheckError, BinaryCheckError) as exc:
        print(f"VERIFY FAILED: {exc}", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _publish(args: argparse.Namespace) -> int:
    built_for = target_of_build(args.zip)
    python_version = args.python_version or (built_for or (DEFAULT_PYTHON_VERSION,))[0]
    architecture = args.architecture or (built_for or ("", "x86_64"))[1]
    if built_for and built_for != (python_version, architecture):
        print(
            f"PUBLISH REFUSED: {args.zip} was built for python{built_for[0]} on {built_for[1]}, "
            f"not python{python_version} on {architecture}",
            file=sys.stderr,
        )
        return 2
    arn = publish_layer(
        args.zip,
        bucket=args.bucket,
        key=args.key,
        layer_name=args.layer_name,
        stage=args.stage,
        config_path=args.config,
        python_version=python_version,
        architecture=architecture,
        region=args.region,
        endpoint_url=args.endpoint_url,
    )
    print(f"published {arn}; written to {args.config} stages.{args.stage}.layers")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = _parser().parse_args(argv)
    handlers = {"build": _build, "verify": _verify, "publish": _publish}
    try:
        return handlers[args.command](args)
    except TargetError as exc:  # a Python or architecture Lambda has no runtime for
        print(f"{args.command.upper()} REFUSED: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
