"""Fetch the UCI SMS Spam Collection once, check it, and cache it (like sklearn's fetch_*).

The zip is read in memory; only its ``SMSSpamCollection`` member is kept, and only if
its sha256 is the published one. The file is written to a temporary name and renamed,
so the cache never holds a partial or unverified file. A cached file is re-hashed on
every use; a corrupted cache is downloaded again.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from trainer.config import DEFAULT_DATA_URL, SMS_SHA256
from trainer.errors import DownloadError

__all__ = ["MAX_DOWNLOAD_BYTES", "MEMBER_NAME", "fetch_sms_collection", "sms_cache_path"]

MEMBER_NAME = "SMSSpamCollection"
MAX_DOWNLOAD_BYTES = 50 * 1024 * 1024


def sms_cache_path(data_home: Path) -> Path:
    """Where the verified file lives inside the data home."""
    return Path(data_home) / "sms_spam_collection" / MEMBER_NAME


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(url: str, timeout: float) -> bytes:
    if not url.startswith(("https://", "http://", "file://")):
        raise DownloadError(f"{url}: only http(s) and file URLs can be downloaded")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - checked above
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"HTTP {exc.code} {exc.reason}"
        raise DownloadError(
            f"could not download {url} ({reason}); pass --data PATH to train on local files"
        ) from exc
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise DownloadError(f"{url}: more than {MAX_DOWNLOAD_BYTES} bytes, refusing it")
    return data


def _member(archive: bytes, url: str, depth: int = 0) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            names = zf.namelist()
            for name in names:
                if name.rsplit("/", 1)[-1] == MEMBER_NAME:
                    return zf.read(name)
            for name in names:  # UCI has shipped the collection as a zip inside a zip
                if name.lower().endswith(".zip") and depth == 0:
                    try:
                        return _member(zf.read(name), url, depth + 1)
                    except DownloadError:
                        continue
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{url}: not a zip file ({exc})") from exc
    raise DownloadError(f"{url}: the zip has no {MEMBER_NAME} member (members: {names})")


def fetch_sms_collection(
    data_home: str | Path,
    url: str = DEFAULT_DATA_URL,
    sha256: str = SMS_SHA256,
    timeout: float = 60.0,
) -> Path:
    """The path of a verified ``SMSSpamCollection``, downloading it on first use.

    Raises ``DownloadError`` (and caches nothing) when the download fails, the zip lacks
    the member, or the member's sha256 is not ``sha256``.
    """
    target = sms_cache_path(Path(data_home).expanduser())
    if target.is_file() and _sha256(target.read_bytes()) == sha256:
        return target
    data = _member(_download(url, timeout), url)
    digest = _sha256(data)
    if digest != sha256:
        raise DownloadError(
            f"{url}: {MEMBER_NAME} has sha256 {digest}, expected {sha256}; "
            f"the download is not the published file, nothing was cached"
        )
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{MEMBER_NAME}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise DownloadError(f"could not cache {MEMBER_NAME} in {target.parent}: {exc}") from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return target
