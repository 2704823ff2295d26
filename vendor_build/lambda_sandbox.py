"""Run code as Lambda's python3.13 runtime would, in a fresh interpreter; standard library only.

Started by ``vendor_build.sandbox`` as ``python -I -S -B lambda_sandbox.py SPEC_JSON``:
``-I`` ignores the environment and user site, ``-S`` skips site-packages, ``-B`` writes no
bytecode (``/opt`` and ``/var/task`` are read-only on Lambda). ``sys.path`` gets the
runtime's order: the function code (``task``), the layer's site-packages, ``/opt/python``,
the runtime's bundled SDK (``runtime``), then the standard library; nothing else. So this
file imports only the standard library, and little of it: its imports precede every cold
start it times.

In order, timed together as the cold start: import ``imports``; import ``handler``
(``module.attribute``); call ``init`` (``module.attribute``) with ``init_args``, standing
for work a handler did at import time. Then the handler answers each of ``events``, with
a fresh :class:`LambdaContext` each; given ``predict``, a pickled model scores texts. One
JSON object goes to stdout: ``time.monotonic()`` stamps (system-wide on Linux, so the
parent can subtract its own), timings, responses, the versions and files of the
scientific packages, and the modules loaded from outside the allowed folders (leaks).
"""

import json
import os
import sys
import time

T_START = time.monotonic()

__all__ = ["LambdaContext", "main"]

_FUNCTION_ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"
#: The packages whose version and file the report names.
_SCIENTIFIC = ("sklearn", "numpy", "scipy", "joblib")


class LambdaContext:
    """The attributes of the runtime's context object that handlers read.

    The runtime makes one per invocation; the deadline counts from its creation.
    In-process benchmarks and tests pass one too, so there is a single fake context.
    """

    def __init__(
        self, function_name: str = "spam-api-local", memory_mb: int = 1024, timeout_s: float = 30
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = _request_id()
        self.invoked_function_arn = f"{_FUNCTION_ARN_PREFIX}{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _request_id() -> str:
    """A random id shaped like a UUID (``uuid`` would add its imports to every cold start)."""
    digits = os.urandom(16).hex()
    return "-".join(digits[a:b] for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))


def _lambda_sys_path(spec: dict) -> list[str]:
    """Lambda's order: /var/task, the layer's site-packages, /opt/python, /var/runtime."""
    opt, version = spec["opt"], spec["python_version"]
    site_packages = os.path.join(opt, "python", "lib", f"python{version}", "site-packages")
    entries = [spec.get("task"), site_packages, os.path.join(opt, "python"), spec.get("runtime")]
    return [entry for entry in entries if entry]


def _attribute(dotted: str):
    """``module.attribute``, importing the module."""
    module_name, _, name = dotted.rpartition(".")
    __import__(module_name)
    return getattr(sys.modules[module_name], name)


def _invoke(handler, event: dict, context: dict) -> dict:
    lambda_context = LambdaContext(**context)
    began = time.perf_counter()
    response = handler(event, lambda_context)
    return {"response": response, "seconds": time.perf_counter() - began}


def _predict(spec: dict) -> list[dict]:
    """Unpickle the model in ``model_dir`` and score ``examples`` (text, expected label)."""
    import warnings

    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    warnings.simplefilter("error", InconsistentVersionWarning)
    vectorizer = joblib.load(os.path.join(spec["model_dir"], "vectorizer.pkl"))
    model = joblib.load(os.path.join(spec["model_dir"], "spam_model.pkl"))
    classes = [str(c) for c in model.classes_]
    spam_value = str(spec["spam_label"])
    if spam_value not in classes:
        raise SystemExit(f"spam label {spam_value!r} is not one of the model's classes {classes}")
    column = classes.index(spam_value)
    texts = [text for text, _ in spec["examples"]]
    probabilities = model.predict_proba(vectorizer.transform(texts))[:, column]
    return [
        {
            "text": text,
            "expected": expected,
            "spam_probability": float(p),
            "predicted": "spam" if p >= 0.5 else "ham",
        }
        for (text, expected), p in zip(spec["examples"], probabilities, strict=True)
    ]


def _leaks(allowed: list[str], forbidden: list[str]) -> list[str]:
    """Modules loaded from outside the allowed folders, or from a forbidden one.

    A module counts as inside by the path it was found at or by its real path: the
    runtime's SDK folder may hold links to the building environment's boto3.
    """
    leaks = []
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or name in {"__main__", "__mp_main__"}:  # this script itself
            continue
        real = os.path.realpath(path)
        inside = any(p.startswith(root + os.sep) for p in (path, real) for root in allowed)
        if not inside or any(real.startswith(root + os.sep) for root in forbidden):
            leaks.append(f"{name}: {path}")
    return leaks


def _allowed_roots(spec: dict) -> list[str]:
    roots = [spec[key] for key in ("opt", "task", "runtime") if spec.get(key)]
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    return [stdlib, *{os.path.abspath(r) for r in roots}, *{os.path.realpath(r) for r in roots}]


def main(argv: list[str]) -> int:
    """Run the spec in ``argv[1]`` and print the report; 3 when an import fails."""
    spec = json.loads(argv[1])
    sys.path[:0] = _lambda_sys_path(spec)
    sys.dont_write_bytecode = True
    report: dict = {"t_start": T_START, "sys_path": list(sys.path), "executable": sys.executable}
    started, started_cpu = time.perf_counter(), time.process_time()
    try:
        for name in spec.get("imports", ()):
            __import__(name)
        handler = _attribute(spec["handler"]) if spec.get("handler") else None
    except ImportError as exc:
        report["error"] = f"ImportError: {exc}"
        print(json.dumps(report))
        return 3
    if spec.get("init"):
        _attribute(spec["init"])(*spec.get("init_args", ()))
    report["init_s"] = time.perf_counter() - started
    report["init_cpu_s"] = time.process_time() - started_cpu
    report["t_init"] = time.monotonic()
    context = spec.get("context") or {}
    report["responses"] = [_invoke(handler, event, context) for event in spec.get("events", ())]
    report["t_done"] = time.monotonic()
    if spec.get("predict"):
        report["predictions"] = _predict(spec["predict"])
    loaded = {name: sys.modules[name] for name in _SCIENTIFIC if name in sys.modules}
    report["versions"] = {name: getattr(m, "__version__", "?") for name, m in loaded.items()}
    report["files"] = {name: getattr(m, "__file__", None) for name, m in loaded.items()}
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    report["leaks"] = _leaks(_allowed_roots(spec), [os.path.join(stdlib, "site-packages")])
    report["modules"] = len(sys.modules)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
