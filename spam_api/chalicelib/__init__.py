"""The spam API's library, deployed with ``app.py``.

- ``settings``: the only reader of ``os.environ`` (``Settings``, ``load_settings``).
- ``registry_format``: keys, manifest and exceptions shared with the trainer.
- ``registry``: ``RegistryReader`` (conditional GET, verify, unpickle).
- ``s3_client`` and ``s3_http``: which S3 client reads the registry, and the standard-library one.
- ``model``: ``LiveModel``, one immutable loaded version that scores and explains.
- ``holder``: ``ModelHolder``, the live model kept current and swapped whole.
- ``runtime``: the process-wide settings + holder (``get_runtime``, ``install_runtime``,
  ``reset_runtime``, ``warm_start``).
- ``validation`` and ``service``: request parsing, API errors, and what each route does.
- ``http``: per-request scope, response envelope (CORS, request id), logging.
"""
