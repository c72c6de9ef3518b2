"""Property-based fuzzing of a live `tunefactory api` through its own OpenAPI schema (schemathesis).

Every operation the server publishes gets generated requests, valid and invalid: none may be answered with a
5xx, and the server must still answer a plain chat request afterwards. Bounded: MAX_EXAMPLES per operation.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 150  # generated requests per operation (and method)
SENT: list[int] = []  # status codes of every fuzzed request, for the summary test


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def api_url(tiny_llama, tmp_path_factory):
    """`tunefactory api` in its own process on a free localhost port, with a short answer budget."""
    config = tmp_path_factory.mktemp("fuzz") / "api.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": str(tiny_llama), "template": "llama3",
                                      "max_new_tokens": 8}))
    port = free_port()
    env = {**os.environ, "API_HOST": "127.0.0.1", "API_PORT": str(port), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "tunefactory.cli", "api", str(config)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/v1/models", timeout=2)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("tunefactory api did not start:\n" + process.communicate()[0][-3000:])
            time.sleep(0.2)
    yield url
    process.terminate()
    process.communicate(timeout=30)


def test_no_generated_request_gets_a_server_error(api_url):
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/models", "/v1/chat/completions"}
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
                  derandomize=True)
        def call(case):
            response = case.call(base_url=api_url, timeout=60)
            SENT.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r:.300} -> "
                                f"{response.status_code}: {response.text[:300]}")

        call()
    assert not failures, "\n".join(failures[:5])


def test_the_server_still_answers_after_the_fuzzing(api_url):
    import json

    assert len(SENT) >= MAX_EXAMPLES, "the fuzzing sent fewer requests than one operation's budget"
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}).encode()
    request = urllib.request.Request(f"{api_url}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        reply = json.loads(response.read())
    assert reply["choices"][0]["message"]["role"] == "assistant"
    print(f"fuzzed requests: {len(SENT)}; status codes: {sorted(set(SENT))}")
