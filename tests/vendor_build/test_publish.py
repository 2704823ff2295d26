import json
import re
import shutil
from pathlib import Path

import boto3
import pytest

from vendor_build.publish import (
    DEFAULT_CONFIG,
    ConfigError,
    layer_name_of,
    publish_layer,
    write_layer_arn,
)
from vendor_build.zipper import write_deterministic_zip

from .conftest import write

OLD = "arn:aws:lambda:us-east-1:000000000000:layer:spam-sklearn-layer:1"
NEW = "arn:aws:lambda:us-east-1:000000000000:layer:spam-sklearn-layer:7"
OTHER = "arn:aws:lambda:us-east-1:000000000000:layer:other-layer:3"

SAMPLE_CONFIG = {
    "version": "2.0",
    "app_name": "spam-api",
    "environment_variables": {"MODEL_PREFIX": "models/", "NOTE": "caf\u00e9"},
    "stages": {
        "local": {"layers": [], "environment_variables": {"MODEL_BUCKET": "local"}},
        "dev": {"layers": [OTHER, OLD], "lambda_memory_size": 1024},
        "prod": {"layers": [OLD]},
    },
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A temporary Chalice config: a copy of the real one when it exists, else a sample."""
    path = tmp_path / ".chalice" / "config.json"
    path.parent.mkdir()
    if DEFAULT_CONFIG.is_file():
        shutil.copyfile(DEFAULT_CONFIG, path)
    else:
        path.write_text(json.dumps(SAMPLE_CONFIG, indent=2, ensure_ascii=False) + "\n")
    return path


def test_layer_name_of() -> None:
    assert layer_name_of(NEW) == "spam-sklearn-layer"
    with pytest.raises(ValueError):
        layer_name_of("arn:aws:lambda:us-east-1:000000000000:function:f")


def test_writing_the_arn_changes_only_that_stage_and_keeps_the_bytes(config: Path) -> None:
    before_text = config.read_text()
    before = json.loads(before_text)
    write_layer_arn(config, "dev", NEW)
    after_text = config.read_text()
    after = json.loads(after_text)
    assert after_text.endswith("}\n")
    old_layers = before["stages"]["dev"].get("layers", [])
    expected = [NEW if layer_name_of(x) == layer_name_of(NEW) else x for x in old_layers]
    if NEW not in expected:
        expected.append(NEW)
    assert after["stages"]["dev"]["layers"] == expected
    after["stages"]["dev"]["layers"] = old_layers
    assert after == before  # nothing else changed, key order included
    assert list(after) == list(before)
    # writing the old value back restores the file byte for byte
    if old_layers:
        write_layer_arn(config, "dev", next(x for x in old_layers if "spam-sklearn" in x))
        assert config.read_text() == before_text


def test_other_layers_keep_their_place(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(SAMPLE_CONFIG, indent=2, ensure_ascii=False) + "\n")
    original = path.read_text()
    assert write_layer_arn(path, "dev", NEW) == [OTHER, NEW]
    assert write_layer_arn(path, "local", NEW) == [NEW]
    data = json.loads(path.read_text())
    assert data["stages"]["prod"]["layers"] == [OLD]
    assert data["environment_variables"]["NOTE"] == "caf\u00e9"
    assert "caf\u00e9" in path.read_text()  # not escaped
    write_layer_arn(path, "dev", OLD)
    restored = json.loads(path.read_text())
    restored["stages"]["local"]["layers"] = []
    path.write_text(json.dumps(restored, indent=2, ensure_ascii=False) + "\n")
    assert path.read_text() == original


def test_an_unknown_stage_is_an_error(config: Path) -> None:
    before = config.read_text()
    with pytest.raises(ConfigError, match="no stage 'staging'"):
        write_layer_arn(config, "staging", NEW)
    assert config.read_text() == before


@pytest.mark.integration
def test_publish_to_a_moto_server_over_http(
    tmp_path: Path, s3_endpoint: str, s3_client, bucket: str
) -> None:
    tree = tmp_path / "tree"
    write(tree / "python" / "lib" / "python3.13" / "site-packages" / "m.py", "x = 1\n")
    layer = write_deterministic_zip(tree, tmp_path / "layer.zip")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SAMPLE_CONFIG, indent=2, ensure_ascii=False) + "\n")

    arn = publish_layer(
        layer,
        bucket=bucket,
        layer_name="spam-sklearn-layer",
        stage="dev",
        config_path=config,
        region="us-east-1",
        endpoint_url=s3_endpoint,
    )

    assert re.fullmatch(r"arn:aws:lambda:us-east-1:\d{12}:layer:spam-sklearn-layer:\d+", arn)
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("layers/spam-sklearn-layer/")
    lam = boto3.client("lambda", endpoint_url=s3_endpoint, region_name="us-east-1")
    name, number = arn.split(":")[-2:]
    version = lam.get_layer_version(LayerName=name, VersionNumber=int(number))
    assert version["CompatibleRuntimes"] == ["python3.13"]
    assert version["CompatibleArchitectures"] == ["x86_64"]
    assert json.loads(config.read_text())["stages"]["dev"]["layers"] == [OTHER, arn]

    second = publish_layer(
        layer, bucket=bucket, config_path=config, endpoint_url=s3_endpoint, region="us-east-1"
    )
    assert int(second.rsplit(":", 1)[1]) == int(arn.rsplit(":", 1)[1]) + 1
    assert json.loads(config.read_text())["stages"]["dev"]["layers"] == [OTHER, second]


def test_cli_publish_needs_a_bucket() -> None:
    from vendor_build.__main__ import main

    with pytest.raises(SystemExit):
        main(["publish"])


@pytest.mark.integration
def test_cli_publishes_an_arm64_layer_as_its_build_report_says(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    from vendor_build.__main__ import main
    from vendor_build.build import REPORT_NAME
    from vendor_build.targets import Target

    tree = tmp_path / "tree"
    write(tree / "python" / "lib" / "python3.13" / "site-packages" / "m.py", "x = 1\n")
    layer = write_deterministic_zip(tree, tmp_path / "out" / "sklearn-layer.zip")
    report = {"extra": {"target": Target("3.13", "arm64").describe()}}
    (layer.parent / REPORT_NAME).write_text(json.dumps(report))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SAMPLE_CONFIG, indent=2, ensure_ascii=False) + "\n")
    argv = ["publish", "--zip", str(layer), "--bucket", bucket, "--config", str(config)]
    assert main([*argv, "--region", "us-east-1", "--endpoint-url", s3_endpoint]) == 0

    arn = json.loads(config.read_text())["stages"]["dev"]["layers"][-1]
    lam = boto3.client("lambda", endpoint_url=s3_endpoint, region_name="us-east-1")
    name, number = arn.split(":")[-2:]
    version = lam.get_layer_version(LayerName=name, VersionNumber=int(number))
    assert version["CompatibleRuntimes"] == ["python3.13"]
    assert version["CompatibleArchitectures"] == ["arm64"]
