"""`ntm serve` as a new user runs it: a real process, an embedded PostgreSQL in a fresh data
folder, real HTTP. Starts twice to check the second start reuses the data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_LIMIT_S = 120  # a guard against hanging, not a performance assertion


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    def __init__(self, data_dir: Path, port: int, log: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "NTM_DATABASE_URL"}}
        env |= {"NTM_DATA_DIR": str(data_dir), "PORT": str(port)}
        self.env = env
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "serve", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"ntm serve exited early:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop(signal.SIGKILL)
        pytest.fail(f"ntm serve not ready in time:\n{log.read_text()[-3000:]}")

    def token(self, *args: str) -> str:
        """`ntm token …` as a user runs it, with the server's data folder (its local key)."""
        out = subprocess.run(
            [sys.executable, "-m", "services.cli", "token", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def graphql(self, query: str) -> dict[str, Any]:
        token = self.token("--role", "central_officer", "--ttl", "300")
        response = httpx.post(
            self.url + "/graphql",
            json={"query": query},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


def _postgres_running(data_dir: Path) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return any("postgres" in line and str(data_dir) in line for line in out.splitlines())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("ntm-data")
    yield path
    assert not _postgres_running(path), "the embedded PostgreSQL outlived the test"


class TestServe:
    def test_first_start_answers_the_acceptance_queries_and_stops_cleanly(
        self, data_dir: Path, tmp_path: Path
    ) -> None:
        server = Server(data_dir, _free_port(), tmp_path / "first.log")
        try:
            assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
            missing = httpx.get(server.url + "/criteria/v1/units/99999")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            assert missing.json()["code"] == "unit.not_found"
            for service in ("criteria", "funding", "appraisal"):
                assert httpx.get(f"{server.url}/{service}/docs").status_code == 200
                assert httpx.get(f"{server.url}/{service}/openapi.json").status_code == 200
            assert "graphiql" in httpx.get(server.url + "/graphql").text.lower()

            data = server.graphql(
                '{ unit(code:"395", asOf:"2023-05-19") { name level parent { name }'
                " children(first:100) { totalCount } }"
                " now: units(level: PROVINCE) { totalCount }"
                ' before: units(level: PROVINCE, asOf:"2024-01-01") { totalCount }'
                ' search: units(search:"tho xuan", asOf:"2023-01-01") { edges { node { code } } } }'
            )
            assert data["unit"] == {
                "name": "Huyện Thọ Xuân",
                "level": "DISTRICT",
                "parent": {"name": "Tỉnh Thanh Hóa"},
                "children": {"totalCount": 30},
            }
            assert data["now"]["totalCount"] == 34
            assert data["before"]["totalCount"] == 63
            assert "395" in [e["node"]["code"] for e in data["search"]["edges"]]
        finally:
            assert server.stop(signal.SIGINT) == 0
        assert not _postgres_running(data_dir)
        assert "national administrative units loaded" in server.log.read_text()

    def test_second_start_reuses_the_data_and_sigterm_stops_everything(
        self, data_dir: Path, tmp_path: Path
    ) -> None:
        server = Server(data_dir, _free_port(), tmp_path / "second.log")
        try:
            data = server.graphql('{ unit(code:"15592") { name predecessors { code } } }')
            assert data["unit"]["name"] == "Xã Xuân Lập"
            assert "15592" in [p["code"] for p in data["unit"]["predecessors"]]
        finally:
            server.stop(signal.SIGTERM)
        log = server.log.read_text()
        assert "already loaded" in log
        assert "initializing pgdata" not in log.lower()
        assert not _postgres_running(data_dir)

    def test_workers_share_the_port_on_the_database_their_parent_prepared(
        self, data_dir: Path, tmp_path: Path
    ) -> None:
        server = Server(data_dir, _free_port(), tmp_path / "workers.log", "--workers", "2")
        try:
            for _ in range(4):
                data = server.graphql('{ unit(code:"395", asOf:"2023-05-19") { name } }')
                assert data["unit"]["name"] == "Huyện Thọ Xuân"
        finally:
            server.stop(signal.SIGTERM)
        log = server.log.read_text()
        assert log.count("already loaded") >= 1  # the parent's preparation, once
        assert log.count("ntm ready") == 2, log[-3000:]  # each worker, without preparing again
        assert not _postgres_running(data_dir)
