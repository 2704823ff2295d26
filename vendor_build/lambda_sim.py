"""Invoke a Lambda handler the way the python3.11 runtime does, in an isolated interpreter.

Started as ``python -I -S -B lambda_sim.py ARGS_JSON`` with the working directory standing
for ``/var/task``. ``sys.path`` gets the runtime's order: the function code, the layer's
site-packages, ``/opt/python``, the runtime's bundled SDK (boto3), then the standard
library; nothing else. The handler module is imported once (the cold start, timed) and
called with each event. Prints one JSON object. Standard library only.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import uuid

__all__ = ["FakeContext", "main"]


class FakeContext:
    """The attributes of the runtime's LambdaContext that handlers read."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "smoke"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv: list[str]) -> int:
    """Import the handler, invoke it with every event, print the responses as JSON."""
    args = json.loads(argv[1])
    opt, version = args["opt"], args["python_version"]
    sys.path[:0] = [
        args["task"],
        os.path.join(opt, "python", "lib", f"python{version}", "site-packages"),
        os.path.join(opt, "python"),
        args["runtime"],
    ]
    sys.dont_write_bytecode = True
    module_name, _, attribute = args["handler"].rpartition(".")
    started = time.perf_counter()
    handler = getattr(importlib.import_module(module_name), attribute)
    init_s = time.perf_counter() - started
    responses = []
    for event in args["events"]:
        context = FakeContext(args["function_name"], args["memory_mb"], args["timeout_s"])
        began = time.perf_counter()
        response = handler(event, context)
        responses.append({"response": response, "seconds": time.perf_counter() - began})
    loaded_from = sorted(
        {
            os.path.dirname(os.path.realpath(module.__file__))
            for name, module in list(sys.modules.items())
            if name.split(".")[0] in {"sklearn", "numpy", "scipy", "joblib", "boto3"}
            and getattr(module, "__file__", None)
        }
    )
    print(json.dumps({"init_s": init_s, "responses": responses, "dirs": loaded_from[:5]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
