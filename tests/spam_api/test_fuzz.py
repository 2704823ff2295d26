"""A quick property check: whatever the body, the answer is 2xx/4xx JSON with CORS, no leak.

(The reliability suite runs the large fuzz campaign; this keeps the basics honest.)
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import post

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"text": json_values}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"text": st.text(min_size=1, max_size=200)}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.fixed_dictionaries({"texts": st.lists(json_values, max_size=5)}).map(
        lambda v: json.dumps(v).encode()
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, path=st.sampled_from(["/predict", "/predict/batch"]))
def test_any_body_gets_a_clean_answer(api_client, body: bytes, path: str) -> None:
    response = post(api_client, path, body)
    assert response.status_code in {200, 400, 413}, (response.status_code, response.body)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    answer = json.loads(response.body)
    assert answer["status"] in {"success", "error"}
    assert "Traceback" not in response.body.decode()
