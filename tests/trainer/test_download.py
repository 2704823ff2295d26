"""The SMS download: served by a local HTTP server built here, never the internet."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from trainer.config import SMS_SHA256, read_env
from trainer.download import MEMBER_NAME, fetch_sms_collection, sms_cache_path
from trainer.errors import DownloadError


class _Server:
    """Serves ``files`` (path -> bytes) on loopback and counts the requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def http_server() -> Iterator[_Server]:
    server = _Server()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    server.thread.join(timeout=5)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def sms_bytes(sms_collection_path: Path) -> bytes:
    return sms_collection_path.read_bytes()


def test_good_zip_is_verified_cached_and_reused(http_server, sms_bytes, tmp_path) -> None:
    http_server.files["/sms.zip"] = _zip({MEMBER_NAME: sms_bytes, "readme": b"about"})
    home = tmp_path / "home"
    path = fetch_sms_collection(home, f"{http_server.url}/sms.zip")
    assert path == sms_cache_path(home) and path.read_bytes() == sms_bytes
    assert [p.name for p in path.parent.iterdir()] == [MEMBER_NAME]  # no temp files left
    again = fetch_sms_collection(home, f"{http_server.url}/sms.zip")
    assert again == path
    assert http_server.requests == ["/sms.zip"]  # the second call used the cache


def test_zip_inside_a_zip_is_unpacked(http_server, sms_bytes, tmp_path) -> None:
    inner = _zip({MEMBER_NAME: sms_bytes})
    http_server.files["/outer.zip"] = _zip({"smsspamcollection.zip": inner})
    path = fetch_sms_collection(tmp_path, f"{http_server.url}/outer.zip")
    assert path.read_bytes() == sms_bytes


def test_wrong_hash_is_refused_and_nothing_is_cached(http_server, sms_bytes, tmp_path) -> None:
    tampered = sms_bytes.replace(b"ham\t", b"spam\t", 1)
    http_server.files["/sms.zip"] = _zip({MEMBER_NAME: tampered})
    with pytest.raises(DownloadError, match=f"expected {SMS_SHA256}.*nothing was cached"):
        fetch_sms_collection(tmp_path / "home", f"{http_server.url}/sms.zip")
    assert not sms_cache_path(tmp_path / "home").exists()
    assert not any((tmp_path / "home").rglob("*SMSSpamCollection*"))


def test_corrupted_cache_is_downloaded_again(http_server, sms_bytes, tmp_path) -> None:
    http_server.files["/sms.zip"] = _zip({MEMBER_NAME: sms_bytes})
    target = sms_cache_path(tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"ham\ttruncated")
    assert fetch_sms_collection(tmp_path, f"{http_server.url}/sms.zip").read_bytes() == sms_bytes
    assert len(http_server.requests) == 1


@pytest.mark.parametrize(
    ("files", "path", "pattern"),
    [
        ({}, "/missing.zip", "could not download .*404"),
        ({"/bad.zip": b"this is not a zip"}, "/bad.zip", "not a zip file"),
        ({"/other.zip": _zip({"readme": b"x"})}, "/other.zip", f"no {MEMBER_NAME} member"),
    ],
)
def test_download_failures_are_clear(http_server, tmp_path, files, path, pattern) -> None:
    http_server.files.update(files)
    with pytest.raises(DownloadError, match=pattern):
        fetch_sms_collection(tmp_path, f"{http_server.url}{path}")
    assert not sms_cache_path(tmp_path).exists()


def test_unreachable_server_and_bad_scheme(tmp_path) -> None:
    from stack.local.services import free_port

    with pytest.raises(DownloadError, match="pass --data PATH"):
        fetch_sms_collection(tmp_path, f"http://127.0.0.1:{free_port()}/x.zip", timeout=5)
    with pytest.raises(DownloadError, match="only http"):
        fetch_sms_collection(tmp_path, "ftp://example.com/x.zip")


def test_environment_overrides(tmp_path) -> None:
    env = read_env(
        {
            "SPAM_DATA_HOME": str(tmp_path),
            "SPAM_DATA_URL": "http://127.0.0.1:1/x.zip",
            "SPAM_DATA": "a.txt 'dir with space:spam'",
            "MODEL_BUCKET": "b",
        }
    )
    assert env.data_home == tmp_path and env.data_url.endswith("/x.zip")
    assert env.data == ("a.txt", "dir with space:spam")
    assert env.bucket == "b" and env.prefix == "models/"
    defaults = read_env({})
    assert defaults.data == () and defaults.bucket is None
    assert defaults.data_url.startswith("https://archive.ics.uci.edu/")
    assert defaults.data_home.name == "spam-classifier"
