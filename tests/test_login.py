"""The UI behind a login: deploy/Caddyfile (the distribution's Caddy) in front of dagster-webserver.

Without credentials every path answers 401; with them the UI, its GraphQL API and its
websocket work, over TLS; plain HTTP only redirects; the webserver listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.server]
BIN = Path(sys.executable).parent
CADDYFILE = Path(__file__).parents[1] / "deploy" / "Caddyfile"
USER, PASSWORD = "analis", "kata sandi panjang 2024"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise AssertionError(f"nothing listens on {port} after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def behind_login(isolated_env, tmp_path):
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("no caddy on this machine: `make test-server` installs Debian's caddy package")
    web_port, https_port, http_port = free_port(), free_port(), free_port()
    web = start([str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-m", "pipeline.definitions"],
                tmp_path / "webserver.log", {})
    users = tmp_path / "ui-users"
    hashed = subprocess.run([caddy, "hash-password", "--plaintext", PASSWORD], capture_output=True, text=True,
                            check=True).stdout.strip()
    users.write_text(f"{USER} {hashed}\n")
    data = tmp_path / "caddy"
    proxy = start([caddy, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"], tmp_path / "caddy.log", {
        "PPA_UI_ADDRESS": f"https://127.0.0.1:{https_port}", "PPA_UI_TLS": "internal", "PPA_UI_USERS": str(users),
        "PPA_UI_BIND": "127.0.0.1", "PPA_UI_HTTP_PORT": str(http_port), "PPA_WEBSERVER_PORT": str(web_port),
        "PPA_CADDY_DATA": str(data), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data")})
    try:
        wait_for_port(https_port, proxy, tmp_path / "caddy.log", 60)
        wait_for_port(web_port, web, tmp_path / "webserver.log")
        # Caddy's own certificate authority signed the site's certificate: trust its root only
        context = ssl.create_default_context(cafile=str(data / "pki" / "authorities" / "local" / "root.crt"))
        yield {"web": web, "web_port": web_port, "https": https_port, "http": http_port, "tls": context}
    finally:
        stop(proxy)
        stop(web)


def request(site: dict, method: str, path: str, auth: tuple[str, str] | None, body: dict | None = None):
    headers = {"Content-Type": "application/json"} if body else {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    conn = http.client.HTTPSConnection("127.0.0.1", site["https"], context=site["tls"], timeout=60)
    try:
        conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_the_ui_needs_a_login_and_works_behind_it(behind_login):
    site = behind_login
    graphql = {"query": "{ version }"}
    status, headers, _ = request(site, "GET", "/", None)
    assert status == 401 and headers.get("Www-Authenticate", "").startswith("Basic")
    assert request(site, "GET", "/", (USER, "salah"))[0] == 401
    assert request(site, "POST", "/graphql", None, graphql)[0] == 401

    # the UI (the webserver may need a moment to load the code location)
    deadline = time.monotonic() + 60
    while (page := request(site, "GET", "/", (USER, PASSWORD)))[0] != 200 and time.monotonic() < deadline:
        time.sleep(1)
    assert page[0] == 200 and b"Dagster" in page[2]
    status, _, body = request(site, "POST", "/graphql", (USER, PASSWORD), graphql)
    assert status == 200 and json.loads(body)["data"]["version"]

    # the websocket the UI subscribes through
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = f"wss://127.0.0.1:{site['https']}/graphql"
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with pytest.raises(InvalidStatus) as refused:
        connect(url, ssl=site["tls"], subprotocols=["graphql-ws"], open_timeout=30).close()
    assert refused.value.response.status_code == 401
    with connect(url, ssl=site["tls"], subprotocols=["graphql-ws"], open_timeout=30,
                 additional_headers={"Authorization": f"Basic {token}"}) as ws:
        assert ws.response.status_code == 101 and ws.subprotocol == "graphql-ws"
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=30))["type"] == "connection_ack"

    # plain HTTP only redirects to HTTPS
    plain = http.client.HTTPConnection("127.0.0.1", site["http"], timeout=30)
    plain.request("GET", "/runs")
    redirect = plain.getresponse()
    assert redirect.status in (301, 308) and redirect.getheader("Location").startswith("https://")
    plain.close()

    # the webserver itself listens on the loopback address only
    listening = [c.laddr for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == site["web_port"]]
    assert listening and {addr.ip for addr in listening} == {"127.0.0.1"}
