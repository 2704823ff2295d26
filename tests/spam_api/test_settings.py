"""Settings: one table, defaults, and one error naming the variable."""

from __future__ import annotations

import pytest
from chalicelib.settings import (
    Settings,
    SettingsError,
    in_chalice_cli,
    load_settings,
    metrics_settings,
)


def test_defaults() -> None:
    s = load_settings({})
    assert s == Settings()
    assert (s.model_bucket, s.model_prefix, s.model_refresh_seconds) == ("", "models/", 30.0)
    assert (s.max_text_chars, s.max_batch_size, s.max_body_bytes) == (20_000, 100, 1_048_576)
    assert s.cors_allow_origin == "*"
    assert s.s3_endpoint_url is None
    assert s.s3_connect_timeout_seconds == 2.0 and s.s3_read_timeout_seconds == 5.0
    assert s.s3_max_attempts == 2
    assert s.log_level == "INFO"
    assert (s.metrics_enabled, s.metrics_namespace, s.stage_name) == (
        True,
        "SpamClassifier",
        "local",
    )
    assert s.uncertainty_band == 0.1


def test_every_variable_is_read() -> None:
    s = load_settings(
        {
            "MODEL_BUCKET": "my-bucket",
            "MODEL_PREFIX": "/a/b",
            "MODEL_REFRESH_SECONDS": "0",
            "MODEL_RETRY_SECONDS": "2.5",
            "MAX_TEXT_CHARS": "100",
            "MAX_BATCH_SIZE": "7",
            "MAX_BODY_BYTES": "4096",
            "EXPLAIN_TOP_N": "3",
            "CORS_ALLOW_ORIGIN": "https://spam.example.org",
            "CORS_MAX_AGE_SECONDS": "60",
            "S3_ENDPOINT_URL": "http://127.0.0.1:5000",
            "S3_CONNECT_TIMEOUT_SECONDS": "1",
            "S3_READ_TIMEOUT_SECONDS": "3",
            "S3_MAX_ATTEMPTS": "4",
            "LOG_LEVEL": "debug",
            "METRICS_ENABLED": "off",
            "METRICS_NAMESPACE": " Spam/Classifier-2#a:b_c.d ",
            "STAGE_NAME": "prod_eu-1",
            "UNCERTAINTY_BAND": "0.05",
        }
    )
    assert s == Settings(
        model_bucket="my-bucket",
        model_prefix="a/b/",
        model_refresh_seconds=0.0,
        model_retry_seconds=2.5,
        max_text_chars=100,
        max_batch_size=7,
        max_body_bytes=4096,
        explain_top_n=3,
        cors_allow_origin="https://spam.example.org",
        cors_max_age_seconds=60,
        s3_endpoint_url="http://127.0.0.1:5000",
        s3_connect_timeout_seconds=1.0,
        s3_read_timeout_seconds=3.0,
        s3_max_attempts=4,
        log_level="DEBUG",
        metrics_enabled=False,
        metrics_namespace="Spam/Classifier-2#a:b_c.d",
        stage_name="prod_eu-1",
        uncertainty_band=0.05,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MODEL_BUCKET", "Not_A_Bucket"),
        ("MODEL_PREFIX", "models/../secrets"),
        ("MODEL_REFRESH_SECONDS", "-1"),
        ("MODEL_REFRESH_SECONDS", "nan"),
        ("MAX_TEXT_CHARS", "0"),
        ("MAX_TEXT_CHARS", "12.5"),
        ("MAX_BATCH_SIZE", "many"),
        ("MAX_BODY_BYTES", "999999999999"),
        ("CORS_ALLOW_ORIGIN", "https://spam.example.org/page"),
        ("CORS_ALLOW_ORIGIN", "spam.example.org"),
        ("S3_ENDPOINT_URL", "localhost:5000"),
        ("S3_MAX_ATTEMPTS", "0"),
        ("LOG_LEVEL", "chatty"),
        ("METRICS_ENABLED", "sometimes"),
        ("METRICS_NAMESPACE", "AWS/Lambda"),  # AWS's own
        ("METRICS_NAMESPACE", "Spam$Classifier"),
        ("METRICS_NAMESPACE", "x" * 256),
        ("STAGE_NAME", "my stage"),
        ("STAGE_NAME", "-prod"),
        ("STAGE_NAME", "p" * 33),
        ("STAGE_NAME", "prod.eu"),
        ("UNCERTAINTY_BAND", "-0.1"),
        ("UNCERTAINTY_BAND", "0.6"),
        ("UNCERTAINTY_BAND", "nan"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_allowed(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable} must be ")
    assert repr(value) in message


def test_body_limit_must_hold_a_whole_text() -> None:
    with pytest.raises(SettingsError, match="MAX_BODY_BYTES must be at least MAX_TEXT_CHARS"):
        load_settings({"MAX_TEXT_CHARS": "5000", "MAX_BODY_BYTES": "4000"})


def test_bucket_is_required_only_to_load() -> None:
    with pytest.raises(SettingsError, match="MODEL_BUCKET is not set"):
        load_settings({}).require_bucket()
    assert load_settings({"MODEL_BUCKET": "b-1"}).require_bucket() == "b-1"


def test_cli_mode() -> None:
    assert in_chalice_cli({"AWS_CHALICE_CLI_MODE": "true"})
    assert not in_chalice_cli({})


def test_the_metrics_rows_read_alone_keep_the_stage_when_another_setting_is_bad() -> None:
    """While the settings cannot be read, answers are still counted under the stage's name."""
    env = {"EXPLAIN_TOP_N": "lots", "STAGE_NAME": "prod", "METRICS_NAMESPACE": "Spam"}
    with pytest.raises(SettingsError):
        load_settings(env)
    alone = metrics_settings(env)
    assert (alone.stage_name, alone.metrics_namespace, alone.metrics_enabled) == (
        "prod",
        "Spam",
        True,
    )
    assert alone.explain_top_n == Settings().explain_top_n
    bad_stage = metrics_settings({"STAGE_NAME": "a stage", "METRICS_ENABLED": "false"})
    assert (bad_stage.stage_name, bad_stage.metrics_enabled) == ("local", False)
