"""The trainer's exceptions: one tree, mapped to exit codes in ``trainer.cli``.

::

    TrainerError
     ├── DataError          the input data is unusable (names the file and line or row)
     ├── DownloadError      the corpus could not be fetched or failed its checksum
     ├── MonitorError       ``monitor`` could not read the metrics (log file, CloudWatch)
     └── QualityGateError   the trained model is below the floor set for publishing

Registry problems are ``chalicelib.registry_format.RegistryError``; the CLI maps both.
"""

from __future__ import annotations

__all__ = ["DataError", "DownloadError", "MonitorError", "QualityGateError", "TrainerError"]


class TrainerError(Exception):
    """Base class for every error the trainer reports to its user."""


class DataError(TrainerError, ValueError):
    """Input data that must not be trained on; the message says where and why."""


class DownloadError(TrainerError):
    """Fetching or verifying the public corpus failed; nothing was cached."""


class MonitorError(TrainerError):
    """The live metrics could not be read: no such log, a malformed line, no credentials."""


class QualityGateError(TrainerError):
    """The model did not reach ``--min-mcc`` (or another floor), so it is not published."""
