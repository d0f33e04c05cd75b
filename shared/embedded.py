"""The embedded PostgreSQL 16 (package `pgserver`) used by `ntm serve` and the test suite."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger("ntm.embedded")


@dataclass
class EmbeddedPostgres:
    """A running embedded server; `url(dbname)` gives an asyncpg URL over its Unix socket."""

    data_dir: Path
    _server: Any

    @classmethod
    def start(cls, data_dir: Path) -> EmbeddedPostgres:
        import warnings

        # pgserver asks platformdirs for a runtime folder it does not need for the socket
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver  # imported here: distributed deployments never start it

        data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = (data_dir / "pg16").resolve()
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        log.info("embedded postgresql started", extra={"pgdata": str(pgdata)})
        return cls(data_dir=pgdata, _server=server)

    @property
    def socket_dir(self) -> str:
        return str(self._server.get_uri().split("host=", 1)[1])

    def url(self, dbname: str = "ntm") -> str:
        return f"postgresql+asyncpg://postgres@/{dbname}?host={quote(self.socket_dir)}"

    def ensure_database(self, dbname: str) -> None:
        """Create `dbname` if it does not exist (psql over the server's socket)."""
        exists = self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}';")
        if "(1 row)" not in exists:
            self._server.psql(f'CREATE DATABASE "{dbname}";')

    def drop_database(self, dbname: str) -> None:
        self._server.psql(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE);')

    def stop(self) -> None:
        self._server.cleanup()
        log.info("embedded postgresql stopped")
