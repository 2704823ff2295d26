"""The spam API's library, deployed with ``app.py``.

- ``settings``: the API's settings, read once per process (``get_settings``).
- ``errors``: the API's errors and the one place any exception becomes a response.
- ``validation``: request parsing (bytes in, a validated request or a 400/413 out).
- ``service``: what each route does.
- ``registry_format``: keys, manifest and exceptions shared with the trainer.
- ``registry``: ``RegistryReader`` (conditional GET, verify, unpickle).
- ``s3_client`` and ``s3_http``: which S3 client the API uses, and the standard-library one.
- ``model``: ``LiveModel``, one immutable loaded version that scores and explains, and the
  explain contract (``WordFeatures``, ``ExpertWeights``).
- ``features``, ``vectorizer``, ``experts``: what published pickles name by module path.
- ``holder``: ``ModelHolder``, the live model kept current and swapped whole.
- ``runtime``: the process-wide settings, holder and report writer (``get_runtime``,
  ``install_runtime``, ``reset_runtime``, ``warm_start``).
- ``feedback_format`` and ``feedback``: the report store's format (shared with the trainer)
  and the writer of pending reports.
- ``openapi``: the OpenAPI 3.1 document, built from the settings.
- ``http``: per-request scope, CORS, request ids, logging.
- ``metrics_format`` and ``metrics``: the metric lines' format (shared with the trainer)
  and the writer of each answer's lines (CloudWatch EMF on stdout).
"""
