"""The local stack helpers start real processes and leave nothing listening."""

from __future__ import annotations

import pytest

from stack.local.services import (
    PortInUseError,
    free_port,
    moto_s3_client,
    moto_server,
    port_is_free,
)


@pytest.mark.integration
def test_moto_server_serves_s3_and_stops_cleanly(tmp_path) -> None:
    with moto_server(log_dir=tmp_path) as service:
        s3 = moto_s3_client(service.url)
        s3.create_bucket(Bucket="stack-test")
        s3.put_object(Bucket="stack-test", Key="k", Body=b"v")
        assert s3.get_object(Bucket="stack-test", Key="k")["Body"].read() == b"v"
        assert not port_is_free(service.port)
    assert service.process.poll() is not None
    assert port_is_free(service.port)


@pytest.mark.integration
def test_a_taken_port_is_reported_clearly(tmp_path) -> None:
    port = free_port()
    with (
        moto_server(port, log_dir=tmp_path),
        pytest.raises(PortInUseError, match=str(port)),
        moto_server(port, log_dir=tmp_path),
    ):
        pass
