"""The local stack: ``python -m stack demo`` (``make demo``) and the services it starts.

- :mod:`~stack.local.demo`: where the demo starts; S3, a trained model, the API, the page.
- :mod:`~stack.local.services`: a moto S3 server, ``chalice local`` and a static file
  server, each started, waited for and stopped the same way by the demo, the tests and
  the benchmarks.
"""
