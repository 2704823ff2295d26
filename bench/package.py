"""``chalice package``: the deployment.zip Lambda would run, for sizes and cold starts.

Packaging works offline (empty requirements.txt, region set, no credentials) and imports
app.py with AWS_CHALICE_CLI_MODE set, so no model is loaded while packaging.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from vendor_build.app_bytecode import compile_function_code

__all__ = ["chalice_package", "unzip_task"]


def chalice_package(api_dir: Path, out_dir: Path, stage: str, log: Path) -> Path:
    """Run ``chalice package --stage STAGE OUT`` and return the deployment.zip path."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    chalice = Path(sys.executable).parent / "chalice"
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    log.parent.mkdir(parents=True, exist_ok=True)
    compile_function_code(api_dir)  # as `make deploy` does: bytecode in the zip
    with open(log, "wb") as out:
        proc = subprocess.run(
            [str(chalice), "package", "--stage", stage, str(out_dir)],
            cwd=api_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=300,
        )
    zip_path = out_dir / "deployment.zip"
    if proc.returncode != 0 or not zip_path.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
        raise RuntimeError(f"chalice package failed ({proc.returncode}): {tail}")
    return zip_path


def unzip_task(zip_path: Path, dest: Path) -> Path:
    """Unzip deployment.zip into a fresh folder standing for /var/task."""
    if dest.exists():
        for dirpath, _dirs, _files in os.walk(dest):
            os.chmod(dirpath, 0o755)
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(dest)
    return dest
