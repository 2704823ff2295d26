"""``python -m trainer``: exit codes, messages, and nothing published when it must not be."""

from __future__ import annotations

import json
import random
import time

import pytest

from trainer.cli import EXIT_ERROR, EXIT_OK, EXIT_QUALITY, EXIT_USAGE, main

FAST = ["--folds", "3", "--n-jobs", "1"]


@pytest.fixture(autouse=True)
def _no_download(trainer_env, monkeypatch) -> None:
    monkeypatch.setenv("SPAM_DATA_URL", "http://127.0.0.1:9/never-used.zip")


def _registry(s3_endpoint: str, bucket: str) -> list[str]:
    return ["--bucket", bucket, "--endpoint-url", s3_endpoint]


def test_usage_errors_exit_2(capsys) -> None:
    bad = [
        [],
        ["train", "--max-ham-blocked", "1.5"],
        ["train", "--folds", "1"],
        ["train", "--legacy-keys"],
        ["rollback"],
        ["nope"],
    ]
    for argv in bad:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_bad_data_exits_1_names_the_line_and_publishes_nothing(
    write_sms, s3_endpoint, bucket, bucket_keys, capsys
) -> None:
    path = write_sms("bad.txt", [("ham", "hello"), ("spam", "win"), ("eggs", "what")])
    code = main(["train", "--data", str(path), "--publish", *_registry(s3_endpoint, bucket)])
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert "error: " in err and "bad.txt:3: unknown label 'eggs'" in err
    assert bucket_keys(bucket) == []


def test_publish_without_a_bucket_fails_before_training(small_sms, capsys) -> None:
    assert main(["train", "--data", str(small_sms), "--publish"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "--bucket or set MODEL_BUCKET" in err and "training..." not in err


def test_a_model_below_min_mcc_is_not_published(
    synthetic_rows, write_sms, tmp_path, s3_endpoint, bucket, bucket_keys, capsys
) -> None:
    rows = synthetic_rows(240)
    labels = [label for label, _ in rows]
    random.Random(1).shuffle(labels)  # labels unrelated to texts: nothing to learn
    noise = [(lab, text) for lab, (_, text) in zip(labels, rows, strict=True)]
    path = write_sms("noise.txt", noise)
    registry = _registry(s3_endpoint, bucket)
    argv = [
        "train",
        "--data",
        str(path),
        "--publish",
        "--min-mcc",
        "0.5",
        "--out",
        str(tmp_path / "m"),
    ]
    code = main([*argv, *FAST, *registry])
    assert code == EXIT_QUALITY
    assert "below --min-mcc 0.5; nothing was published" in capsys.readouterr().err
    assert bucket_keys(bucket) == []
    assert (tmp_path / "m" / "metrics.json").exists()  # still saved for inspection
    # publishing the saved folder is refused by the same gate
    code = main(["publish", str(tmp_path / "m"), "--min-mcc", "0.5", *registry])
    assert code == EXIT_QUALITY
    assert bucket_keys(bucket) == []


@pytest.mark.slow  # trains and publishes twice through the CLI: seconds
def test_train_publish_list_republish_and_roll_back(
    small_sms, tmp_path, s3_endpoint, bucket, bucket_keys, s3_client, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("MODEL_BUCKET", bucket)  # the bucket comes from the environment
    monkeypatch.setenv("MODEL_PREFIX", "reg")
    endpoint = ["--endpoint-url", s3_endpoint]
    out = tmp_path / "model"
    argv = ["train", "--data", str(small_sms), "--out", str(out), "--publish", "--min-mcc", "0.8"]
    assert main([*argv, *FAST, *endpoint]) == EXIT_OK
    captured = capsys.readouterr()
    assert "model (holdout)" in captured.out and "tutorial baseline" in captured.out
    assert {p.name for p in out.iterdir()} >= {
        "vectorizer.pkl",
        "spam_model.pkl",
        "metrics.json",
        "model.json",
        "metrics.png",
    }
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = json.loads(s3_client.get_object(Bucket=bucket, Key="reg/current.json")["Body"].read())
    assert first["labels"] == {"spam": 1, "ham": 0}
    assert first["metrics"]["mcc"] >= 0.8

    time.sleep(1.1)  # version ids have one-second resolution; the same bytes twice a second clash
    assert main(["publish", str(out), "--legacy-keys", *endpoint]) == EXIT_OK
    keys = bucket_keys(bucket)
    assert {"spam_model.pkl", "vectorizer.pkl"} <= set(keys)  # the tutorial's root pair
    second = json.loads(s3_client.get_object(Bucket=bucket, Key="reg/current.json")["Body"].read())
    assert second["version"] != first["version"]

    capsys.readouterr()
    assert main(["versions", "--json", *endpoint]) == EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert [v["version"] for v in listed] == sorted([first["version"], second["version"]])
    assert [v["current"] for v in listed] == [v["version"] == second["version"] for v in listed]

    assert main(["rollback", first["version"], *endpoint]) == EXIT_OK
    now = json.loads(s3_client.get_object(Bucket=bucket, Key="reg/current.json")["Body"].read())
    assert now["version"] == first["version"]
    assert main(["versions", *endpoint]) == EXIT_OK
    table = capsys.readouterr().out
    assert f"* {first['version']}" in table and f"  {second['version']}" in table

    assert main(["rollback", "20000101T000000Z-000000", *endpoint]) == EXIT_ERROR
    assert main(["rollback", "../etc", *endpoint]) == EXIT_ERROR
    assert "does not exist" in capsys.readouterr().err


def test_data_comes_from_spam_data_when_no_flag(small_sms, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SPAM_DATA", str(small_sms))
    assert main(["train", "--json", *FAST]) == EXIT_OK
    metrics = json.loads(capsys.readouterr().out)
    assert list(metrics["data"]["sources"]) == ["small.txt"]


def test_failed_download_exits_1_without_training(capsys) -> None:
    assert main(["train", *FAST]) == EXIT_ERROR  # SPAM_DATA_URL points at a closed port
    assert "could not download http://127.0.0.1:9/never-used.zip" in capsys.readouterr().err


def test_missing_bucket_and_bad_folder_exit_1(small_sms, tmp_path, s3_endpoint, capsys) -> None:
    missing = ["--bucket", "no-such-bucket-here", "--endpoint-url", s3_endpoint]
    assert main(["versions", *missing]) == EXIT_ERROR
    assert main(["publish", str(tmp_path), *missing]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "no-such-bucket-here" in err and "not a model folder" in err
