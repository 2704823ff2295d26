"""``python -m vendor_build verify``: the checks each architecture gets, in one place.

Both architectures get the static proofs (every ELF file of the target's machine and no
newer glibc than its runtime's OS; bytecode of the target Python; with ``--compare-to``, the
same file list as the other architecture's layer) and an import-and-predict run in an
isolated interpreter: a native one for x86_64, Debian's arm64 python3.13 under qemu for arm64
(``vendor_build.emulator``). Emulated timings say nothing about Graviton's speed; they are
reported only to show the run happened.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from vendor_build.layer_checks import static_proofs
from vendor_build.sample_model import SPAM_LABEL
from vendor_build.targets import Target, find_interpreter
from vendor_build.verify import VerifyError, time_cold_import, unpack_layer, verify_layer

__all__ = ["verify_command"]


def _interpreter(args: argparse.Namespace, target: Target) -> str | list[str]:
    if args.python:
        return args.python
    if target.arch == "x86_64":
        return find_interpreter(target.python)
    from vendor_build.emulator import (
        DEFAULT_ROOT,
        PYTHON_VERSION,
        EmulatorError,
        emulated_python,
        prepare_root,
    )

    if target.python != PYTHON_VERSION:
        raise VerifyError(
            f"the emulated arm64 interpreter is Debian's python{PYTHON_VERSION}; this layer "
            f"is for python{target.python}"
        )
    try:
        return emulated_python(prepare_root(args.arm64_root or DEFAULT_ROOT))
    except EmulatorError as exc:
        raise VerifyError(str(exc)) from exc


def verify_command(args: argparse.Namespace) -> dict[str, object]:
    """Run the static proofs and the import test for ``args.arch``; returns the summary.

    Raises :class:`~vendor_build.verify.VerifyError` (or a static check's error) on failure.
    """
    target = Target(args.python_version, args.arch)
    emulated = target.arch != "x86_64" and not args.python
    proofs = static_proofs(args.zip, target, compare_to=args.compare_to)
    print(
        f"static proofs OK: {proofs['elf_files']} ELF files, all {target.machine}; newest glibc "
        f"needed {proofs['max_glibc']} (<= {target.describe()['max_glibc']}, {target.os_name}); "
        f"{proofs['pyc_files']} .pyc for {target.python}"
        + ("; file list matches " + str(args.compare_to) if args.compare_to else "")
    )
    python = _interpreter(args, target)
    repeat = args.repeat if args.repeat is not None else (0 if emulated else 3)
    label = "as built, emulated (not Lambda's speed)" if emulated else "as built"
    if args.reference:
        from vendor_build.cross_verify import verify_against_layer

        result = verify_against_layer(
            args.zip,
            args.reference,
            python_version=target.python,
            python=python,
            model_dir=args.model_dir,
            spam_label=args.spam_label or SPAM_LABEL,
            repeat=repeat,
            timing_label=label,
        )
    else:
        result = verify_layer(
            args.zip,
            model_dir=args.model_dir,
            spam_label=args.spam_label,
            repeat=repeat,
            python=python,
            python_version=target.python,
            compare_without_bytecode=not emulated,
            timing_label=label,
        )
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="layer-baseline-") as scratch:
            opt = unpack_layer(args.baseline, Path(scratch) / "opt")
            timing = time_cold_import(
                opt,
                label=f"baseline {args.baseline}",
                repeat=repeat,
                python=python,
                python_version=target.python,
            )
        result.cold_imports.append(timing)
        print(
            f"cold import (baseline): {timing.median_import_s:.2f} s imports "
            f"({timing.median_import_cpu_s:.2f} s CPU), {timing.median_process_s:.2f} s "
            f"whole process"
        )
    summary = result.summary()
    summary["target"] = target.describe()
    summary["emulated"] = emulated
    summary["static"] = proofs
    return summary
