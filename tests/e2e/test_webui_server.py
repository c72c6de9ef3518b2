"""`tunefactory webui` without a browser: it listens on 127.0.0.1 and asks for the login TUNEFACTORY_WEBUI_AUTH sets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytestmark = pytest.mark.slow


def status_of(request: urllib.request.Request | str) -> int:
    try:
        return urllib.request.urlopen(request, timeout=5).status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_board_binds_localhost_and_asks_for_its_login(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "TUNEFACTORY_WEBUI_AUTH": "ada:pw",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_SERVER_NAME", None)
    log = tmp_path / "server.log"
    server = subprocess.Popen([sys.executable, "-m", "tunefactory", "webui", "--board_dir", str(tmp_path / "board")],
                              cwd=tmp_path, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while f"Running on local URL:  {url}" not in log.read_text():
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        assert status_of(f"{url}/config") == 401  # nothing of the board without the login

        def login(password: str) -> int:
            body = urllib.parse.urlencode({"username": "ada", "password": password}).encode()
            return status_of(urllib.request.Request(f"{url}/login", data=body, method="POST"))

        assert login("wrong") == 400 and login("pw") == 200
    finally:
        server.terminate()
        server.wait(30)
