"""The demo's pure parts: which data, which bucket, the generated page config, the CLI."""

from __future__ import annotations

import json
import shlex
import socket
from pathlib import Path

import pytest

from stack import STATIC_DIR
from stack import __main__ as cli
from stack.handoff import curl_line, write_page
from stack.local.demo import DemoError, choose_training_data, local_stage_settings, run_demo
from stack.local.services import free_port


def _config(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(content))
    return path


def test_stage_settings_merge_top_level_and_stage_variables(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        {
            "environment_variables": {"MODEL_PREFIX": "top/", "LOG_LEVEL": "INFO"},
            "stages": {"local": {"environment_variables": {"MODEL_BUCKET": "b-local"}}},
        },
    )
    settings = local_stage_settings("local", path)
    assert (settings.bucket, settings.prefix) == ("b-local", "top/")
    assert settings.environment["LOG_LEVEL"] == "INFO"


def test_stage_without_bucket_or_missing_stage_is_a_clear_error(tmp_path: Path) -> None:
    path = _config(tmp_path, {"stages": {"local": {}}})
    with pytest.raises(DemoError, match="MODEL_BUCKET"):
        local_stage_settings("local", path)
    with pytest.raises(DemoError, match="no stage 'prod'"):
        local_stage_settings("prod", path)


def test_the_real_local_stage_names_a_bucket() -> None:
    settings = local_stage_settings("local")
    assert settings.bucket
    assert "AWS_ENDPOINT_URL_S3" not in settings.environment  # the demo passes it in


def test_training_data_order(tmp_path: Path) -> None:
    explicit = tmp_path / "explicit.tsv"
    shared = tmp_path / "shared" / "sms_spam_collection" / "SMSSpamCollection"
    for path in (explicit, shared):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("ham\thello\n")
    env = {"SPAM_DATA": "/somewhere/else.tsv"}

    assert choose_training_data([str(explicit)], env, tmp_path / "shared").specs == (str(explicit),)
    from_env = choose_training_data(None, env, tmp_path / "shared")
    assert from_env.specs == ()  # the trainer reads $SPAM_DATA itself
    assert "$SPAM_DATA" in from_env.source
    assert choose_training_data(None, {}, tmp_path / "shared").specs == (str(shared),)
    fallback = choose_training_data(None, {}, tmp_path / "nowhere")
    assert fallback.specs == ()
    assert "UCI" in fallback.source


def test_a_named_but_missing_data_path_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match="--data"):
        choose_training_data([str(tmp_path / "nope.tsv")], {}, tmp_path)
    with pytest.raises(DemoError, match="nope:spam"):
        choose_training_data([str(tmp_path / "nope:spam")], {}, tmp_path)
    (tmp_path / "spam").mkdir()
    assert choose_training_data([f"{tmp_path / 'spam'}:spam"], {}, tmp_path).specs


def test_write_page_copies_static_and_points_config_at_the_api(tmp_path: Path) -> None:
    committed = (STATIC_DIR / "config.js").read_text()
    page = write_page(tmp_path, 'http://127.0.0.1:8123"</script>')
    generated = (page / "config.js").read_text()
    assert (page / "index.html").read_text() == (STATIC_DIR / "index.html").read_text()
    assert json.dumps('http://127.0.0.1:8123"</script>') in generated  # a JS string literal
    assert (STATIC_DIR / "config.js").read_text() == committed


def test_curl_line_is_a_valid_shell_command() -> None:
    words = shlex.split(curl_line("http://127.0.0.1:8000", "it's free"))
    assert words[:4] == ["curl", "-s", "-X", "POST"]
    assert words[4] == "http://127.0.0.1:8000/predict"
    assert json.loads(words[-1]) == {"text": "it's free", "explain": True}


def test_cli_demo_takes_ports_and_either_data_or_a_model() -> None:
    args = cli.build_parser().parse_args(
        ["demo", "--s3-port", "1", "--api-port", "2", "--web-port", "3", "--data", "a", "b"]
    )
    assert (args.s3_port, args.api_port, args.web_port, args.data) == (1, 2, 3, ["a", "b"])
    assert cli.build_parser().parse_args(["demo", "--model", "m"]).model == Path("m")
    for wrong in ([], ["demo", "--data", "a", "--model", "m"]):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(wrong)


def test_a_taken_port_fails_fast_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        code = run_demo(s3_port=0, api_port=port, web_port=0)
    assert code == 2
    err = capsys.readouterr().err
    assert f"--api-port {port}" in err
    assert "already in use" in err


@pytest.mark.integration
def test_a_port_just_released_counts_as_free(tmp_path: Path) -> None:
    """Ctrl-C then ``make demo`` again at once must not be refused (TIME_WAIT)."""
    import urllib.request

    from stack.local.services import port_is_free, static_server

    port = free_port()
    with static_server(port, log_dir=tmp_path) as web:
        for _ in range(3):
            with urllib.request.urlopen(web.url + "/") as answer:
                answer.read()
        assert not port_is_free(port)
    assert port_is_free(port)


def test_cli_demo_takes_capture_rates_and_refuses_what_the_api_would(capsys) -> None:
    from stack.capture import capture_environment

    args = cli.build_parser().parse_args(["demo", "--capture-uncertain-rate", "0.5"])
    assert capture_environment(args.capture_rate, args.capture_uncertain_rate) == {
        "CAPTURE_RATE": "0",
        "CAPTURE_UNCERTAIN_RATE": "0.5",
    }
    args = cli.build_parser().parse_args(["demo"])
    assert capture_environment(args.capture_rate, args.capture_uncertain_rate) == {}
    for wrong in ("1.5", "-1", "nan", "some"):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(["demo", "--capture-rate", wrong])
        assert f"--capture-rate: must be a share from 0 to 1, got '{wrong}'" in (
            capsys.readouterr().err
        )


def test_the_api_gets_the_shells_capture_settings_under_the_options_and_the_stage() -> None:
    from stack.local.demo import api_settings

    stage = local_stage_settings("local")
    shell = {"CAPTURE_RATE": "0.3", "CAPTURE_RETENTION_DAYS": "9"}
    settings = api_settings(stage, {}, shell)
    assert (settings.capture_rate, settings.capture_retention_days) == (0.3, 9)
    settings = api_settings(stage, {"CAPTURE_RATE": "0", "CAPTURE_UNCERTAIN_RATE": "1"}, shell)
    assert (settings.capture_rate, settings.capture_uncertain_rate) == (0.0, 1.0)
    assert settings.model_bucket == stage.bucket  # the stage's own variables stand
    assert not api_settings(stage, {}, {}).capture_enabled
    with pytest.raises(DemoError, match="CAPTURE_PREFIX must lie outside MODEL_PREFIX"):
        api_settings(stage, {}, {"CAPTURE_PREFIX": "models/samples/"})


def test_a_bad_capture_setting_in_the_shell_stops_the_demo_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAPTURE_RATE", "2")
    assert run_demo(s3_port=0, api_port=0, web_port=0) == 2
    err = capsys.readouterr().err
    assert "CAPTURE_RATE must be a share from 0 to 1, got '2'" in err
    assert "Service logs kept" not in err  # no service was started
