"""What the stack hands a person once an API runs: the page pointed at it, and a curl line.

``python -m stack demo`` and ``python -m stack deploy`` both end with these, so the page's
``config.js`` and the request to paste have one shape wherever the API runs.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

from stack import STATIC_DIR

__all__ = ["EXAMPLE_TEXT", "curl_line", "page_config_js", "write_page"]

EXAMPLE_TEXT = "WINNER! You have won a free prize. Call now to claim."
#: How long the page waits for an answer: a cold start must fit.
REQUEST_TIMEOUT_MS = 20000


def curl_line(api_url: str, text: str = EXAMPLE_TEXT) -> str:
    """A ready-to-paste ``curl`` call of ``POST /predict`` with an explanation (shell-quoted).

    >>> print(curl_line("https://abc.example/api/", "hi"))
    curl -s -X POST https://abc.example/api/predict -H ... -d '{"text": "hi", "explain": true}'
    """
    body = json.dumps({"text": text, "explain": True})
    return (
        f"curl -s -X POST {shlex.quote(api_url.rstrip('/') + '/predict')} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )


def page_config_js(api_url: str, *, command: str) -> str:
    """The page's ``config.js`` (the shape ``static/config.js`` documents) naming ``api_url``.

    ``json.dumps`` makes the URL a safe JS string literal whatever it contains; ``command``
    (``demo``, ``deploy``) says in a comment what wrote the file.

    >>> print(page_config_js("http://127.0.0.1:8000/", command="demo"))
    // Written by `python -m stack demo`: the API this page calls.
    window.SPAM_CLASSIFIER_CONFIG = {
      "apiBaseUrl": "http://127.0.0.1:8000",
      "requestTimeoutMs": 20000
    };
    """
    config = {"apiBaseUrl": api_url.rstrip("/"), "requestTimeoutMs": REQUEST_TIMEOUT_MS}
    return (
        f"// Written by `python -m stack {command}`: the API this page calls.\n"
        f"window.SPAM_CLASSIFIER_CONFIG = {json.dumps(config, indent=2)};\n"
    )


def write_page(directory: Path, api_url: str, *, source: Path = STATIC_DIR) -> Path:
    """Copy ``static/`` into ``directory/page`` with a ``config.js`` naming ``api_url``.

    For the demo's local page server (a deploy uploads the same ``config.js`` instead);
    the committed ``config.js`` stays untouched. Returns the page folder.
    """
    page = directory / "page"
    shutil.copytree(source, page, dirs_exist_ok=True)
    (page / "config.js").write_text(page_config_js(api_url, command="demo"))
    return page
