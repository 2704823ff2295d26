"""Runs inside a fresh interpreter for one cold-start sample; standard library only.

Started as ``python -I -S -B _cold_child.py SPEC_JSON`` so it sees no site-packages, no
user paths and writes no bytecode, as on Lambda where /opt is read-only. ``SPEC_JSON``
names the folders standing for /var/task, /opt and the runtime's boto3, and what to do:

- ``floor``: import joblib and the two scikit-learn classes, nothing else;
- ``app``: import the packaged Chalice app (it loads the model from S3 at import) and
  answer one API Gateway ``POST /predict`` event;
- ``tutorial``: import the tutorial's handler, load its pickles from S3 as it did at
  import time, and answer the same event.

It prints one JSON line with ``time.monotonic()`` stamps (system-wide on Linux, so the
parent can subtract its own start stamp) and where scikit-learn was imported from.
"""

import json
import sys
import time

T_MAIN = time.monotonic()


class _Context:
    """Enough of Lambda's context object for a handler."""

    function_name = "spam-api-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:spam-api-bench"

    def get_remaining_time_in_millis(self):
        return 30000


def main():
    spec = json.loads(sys.argv[1])
    sys.path[:0] = spec["path"]
    mode = spec["mode"]
    response = None
    t_import = None
    if mode == "floor":
        import joblib  # noqa: F401
        from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: F401
        from sklearn.linear_model import LogisticRegression  # noqa: F401

        t_import = time.monotonic()
    elif mode == "app":
        import app as module

        t_import = time.monotonic()
        response = module.app(spec["event"], _Context())
    elif mode == "tutorial":
        import lambda_function

        lambda_function.load_from_s3(spec["bucket"])
        t_import = time.monotonic()
        response = lambda_function.lambda_handler(spec["event"], _Context())
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    t_done = time.monotonic()
    sklearn = sys.modules.get("sklearn")
    print(
        json.dumps(
            {
                "t_main": T_MAIN,
                "t_import": t_import,
                "t_done": t_done,
                "response": response,
                "sklearn_file": getattr(sklearn, "__file__", None),
                "modules": len(sys.modules),
            }
        )
    )


main()
