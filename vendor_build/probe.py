"""Run inside a fresh, isolated interpreter that sees only the stdlib and a layer (and /var/task).

Started as ``python -I -S -B probe.py ARGS_JSON``: ``-I`` ignores the environment and user
site, ``-S`` skips site-packages, ``-B`` never writes bytecode (as on Lambda's read-only
/opt). It puts the layer on ``sys.path`` the way the Lambda runtime does, imports what the
API needs, optionally loads a model and predicts, and prints one JSON object on stdout.
Standard library only: nothing from the building environment may leak in.
"""

from __future__ import annotations

import json
import os
import sys
import time

__all__ = ["main"]

API_IMPORTS = (
    "numpy",
    "scipy.sparse",
    "joblib",
    "sklearn.feature_extraction.text",
    "sklearn.linear_model",
    "sklearn.pipeline",
)


def _lambda_sys_path(opt: str, python_version: str, task: str | None, runtime: str | None) -> None:
    """Lambda's order: /var/task, the layer's site-packages, /opt/python, /var/runtime, stdlib."""
    entries = [task] if task else []
    entries += [os.path.join(opt, "python", "lib", f"python{python_version}", "site-packages")]
    entries += [os.path.join(opt, "python")]
    entries += [runtime] if runtime else []
    sys.path[:0] = entries


def _leaks(allowed: list[str], forbidden: list[str]) -> list[str]:
    """Modules loaded from outside the allowed roots (stdlib, layer), or from a forbidden one."""
    leaks = []
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or name in {"__main__", "__mp_main__"}:  # this script itself
            continue
        real = os.path.realpath(path)
        inside = any(real.startswith(root + os.sep) for root in allowed)
        if not inside or any(real.startswith(root + os.sep) for root in forbidden):
            leaks.append(f"{name}: {path}")
    return leaks


def _predict(args: dict) -> list[dict]:
    import warnings

    import joblib
    from sklearn.exceptions import InconsistentVersionWarning

    warnings.simplefilter("error", InconsistentVersionWarning)
    vectorizer = joblib.load(os.path.join(args["model_dir"], "vectorizer.pkl"))
    model = joblib.load(os.path.join(args["model_dir"], "spam_model.pkl"))
    classes = [str(c) for c in model.classes_]
    spam_value = str(args["spam_label"])
    if spam_value not in classes:
        raise SystemExit(f"spam label {spam_value!r} is not one of the model's classes {classes}")
    column = classes.index(spam_value)
    texts = [text for text, _ in args["examples"]]
    probabilities = model.predict_proba(vectorizer.transform(texts))[:, column]
    return [
        {
            "text": text,
            "expected": expected,
            "spam_probability": float(p),
            "predicted": "spam" if p >= 0.5 else "ham",
        }
        for (text, expected), p in zip(args["examples"], probabilities, strict=True)
    ]


def main(argv: list[str]) -> int:
    """Import (timed), optionally predict, and print the result as JSON."""
    args = json.loads(argv[1])
    _lambda_sys_path(args["opt"], args["python_version"], args.get("task"), args.get("runtime"))
    sys.dont_write_bytecode = True
    result: dict = {"sys_path": list(sys.path), "executable": sys.executable}
    started, started_cpu = time.perf_counter(), time.process_time()
    try:
        for name in args.get("imports") or API_IMPORTS:
            __import__(name)
    except ImportError as exc:
        result["error"] = f"ImportError: {exc}"
        print(json.dumps(result))
        return 3
    result["import_s"] = time.perf_counter() - started
    result["import_cpu_s"] = time.process_time() - started_cpu
    result["versions"] = {
        name: getattr(sys.modules[name], "__version__", "?")
        for name in ("sklearn", "numpy", "scipy", "joblib")
        if name in sys.modules
    }
    if args.get("model_dir"):
        result["predictions"] = _predict(args)
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    roots = [os.path.realpath(args["opt"]), stdlib] + [
        os.path.realpath(args[key]) for key in ("task", "runtime") if args.get(key)
    ]
    result["leaks"] = _leaks(roots, [os.path.join(stdlib, "site-packages")])
    result["modules"] = len(sys.modules)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
