"""Build, verify, measure and publish the scikit-learn Lambda layer.

The tutorial's layer (``pip install --target`` + zip) is over Lambda's 50 MB zip limit and
leaves almost nothing of the 262,144,000 unzipped bytes (its size: ``make bench``, README).
This package installs the pinned wheels for manylinux_2_28/cp313 (python3.13 runs on Amazon
Linux 2023), trims what the runtime never reads, strips extension modules, ships unchecked-hash
bytecode, writes a deterministic zip with a size report, proves the result in an isolated
interpreter, and publishes it.
Entry point: ``python -m vendor_build``.
"""

from vendor_build.build import BuildResult, build_layer, build_naive_layer
from vendor_build.publish import publish_layer, write_layer_arn
from vendor_build.report import LayerTooLargeError, SizeReport, check_limits, measure_zip
from vendor_build.verify import (
    ColdImport,
    VerifyError,
    VerifyResult,
    time_cold_import,
    unpack_layer,
    verify_layer,
)
from vendor_build.zipper import sha256_file, write_deterministic_zip

__all__ = [
    "BuildResult",
    "ColdImport",
    "LayerTooLargeError",
    "SizeReport",
    "VerifyError",
    "VerifyResult",
    "build_layer",
    "build_naive_layer",
    "check_limits",
    "measure_zip",
    "publish_layer",
    "sha256_file",
    "time_cold_import",
    "unpack_layer",
    "verify_layer",
    "write_deterministic_zip",
    "write_layer_arn",
]
