"""The python3.13 layers for x86_64 and arm64, built from the same pins: both fit every limit,
their binaries are all of their machine and need no glibc past Amazon Linux 2023's (read in
pure Python and checked against readelf), their file lists match, and the arm64 layer imports
and predicts in Debian's arm64 python3.13 under qemu, reproducing the x86_64 layer's answers
for a model pickled on x86_64."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from vendor_build.__main__ import main
from vendor_build.build import BuildResult
from vendor_build.elf import read_elf
from vendor_build.layer_checks import static_proofs
from vendor_build.report import check_limits
from vendor_build.targets import Target
from vendor_build.verify import VerifyError, verify_layer

pytestmark = [  # both layers from PyPI's wheels; arm64's run in an emulated python3.13
    pytest.mark.integration,
    pytest.mark.external,
    pytest.mark.slow,
    pytest.mark.timeout(1800),
]

ARM64 = Target("3.13", "arm64")
X86_64 = Target("3.13", "x86_64")


def readelf(path: Path) -> tuple[str, tuple[int, ...] | None]:
    """binutils' view of one file: its machine line and newest GLIBC_x.y need."""
    header = subprocess.run(
        ["readelf", "-h", "-V", "-W", str(path)], capture_output=True, text=True, check=True
    ).stdout
    machine = re.search(r"Machine:\s+(.+)", header).group(1).strip()
    needs = header.split("Version needs section", 1)[-1] if "Version needs" in header else ""
    found = [tuple(int(x) for x in m.split(".")) for m in re.findall(r"GLIBC_([\d.]+)", needs)]
    return machine, max(found) if found else None


@pytest.mark.parametrize(("arch", "machine"), [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_each_architecture_fits_every_limit_with_binaries_for_its_machine(
    arch: str, machine: str, request: pytest.FixtureRequest
) -> None:
    built: BuildResult = request.getfixturevalue(f"layer_313_{arch}")
    report = built.report
    check_limits(report)  # Lambda's limits and the project budget (150 MB / 50 MB)
    extra = report.extra
    assert extra["target"]["architecture"] == arch and extra["target"]["runtime"] == "python3.13"
    binaries = extra["binaries"]
    assert binaries["machines"] == {machine: binaries["elf_files"]} and binaries["elf_files"] > 100
    assert tuple(int(x) for x in binaries["max_glibc"].split(".")) <= (2, 34)
    assert all(
        any(machine in tag or tag.endswith("-any") for tag in tags)
        for tags in extra["wheel_tags"].values()
    )
    print(
        f"{arch}: {report.unzipped_bytes:,} B unzipped, {report.zipped_bytes:,} B zipped, "
        f"max GLIBC {binaries['max_glibc']} ({binaries['max_glibc_file']})"
    )


def test_the_elf_reader_agrees_with_readelf_on_every_arm64_binary(
    layer_313_arm64: BuildResult, tmp_path: Path
) -> None:
    assert shutil.which("readelf"), "binutils' readelf is needed for this cross-check"
    with zipfile.ZipFile(layer_313_arm64.zip_path) as zf:
        zf.extractall(tmp_path)
    checked = 0
    for path in sorted(tmp_path.rglob("*")):
        elf = read_elf(path) if path.is_file() else None
        if elf is None:
            continue
        machine, glibc = readelf(path)
        assert (elf.machine, machine) == ("aarch64", "AArch64"), path
        assert elf.glibc == glibc, path
        checked += 1
    assert checked == layer_313_arm64.report.extra["binaries"]["elf_files"]


def test_the_arm64_file_list_matches_x86_64_and_its_bytecode_is_for_3_13(
    layer_313_arm64: BuildResult, layer_313_x86_64: BuildResult
) -> None:
    proofs = static_proofs(layer_313_arm64.zip_path, ARM64, compare_to=layer_313_x86_64.zip_path)
    assert proofs["machines"] == {"aarch64": proofs["elf_files"]}
    assert proofs["pyc_files"] > 500 and proofs["binaries_matched_by_name"] > 100
    assert static_proofs(layer_313_x86_64.zip_path, X86_64)["machines"].keys() == {"x86_64"}
    with pytest.raises(Exception, match="not aarch64"):  # the x86_64 layer is no arm64 layer
        static_proofs(layer_313_x86_64.zip_path, ARM64)


def test_the_emulated_arm64_python_refuses_the_x86_64_layer(
    layer_313_x86_64: BuildResult, arm64_python: list[str]
) -> None:
    with pytest.raises(VerifyError, match="isolated interpreter"):
        verify_layer(
            layer_313_x86_64.zip_path,
            model_dir=None,
            reference=[0.0, 0.0, 0.0, 0.0],
            repeat=0,
            compare_without_bytecode=False,
            python=arm64_python,
            python_version="3.13",
            echo=False,
        )


def test_verify_arm64_imports_and_predicts_under_emulation(
    layer_313_arm64: BuildResult,
    layer_313_x86_64: BuildResult,
    arm64_python: list[str],
    tmp_path: Path,
) -> None:
    out = tmp_path / "verify.json"
    x86 = str(layer_313_x86_64.zip_path)
    argv = ["verify", str(layer_313_arm64.zip_path), "--arch", "arm64", "--python-version", "3.13"]
    assert main([*argv, "--reference", x86, "--compare-to", x86, "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["emulated"] is True and summary["target"]["machine"] == "aarch64"
    assert (
        summary["versions"]["sklearn"] == layer_313_arm64.report.extra["installed"]["scikit-learn"]
    )
    assert all(p["predicted"] == p["expected"] for p in summary["predictions"])
    assert summary["static"]["file_list_matches"] == x86
    assert any("run natively" in note for note in summary["notes"])
