from __future__ import annotations

import pytest

from shared.settings import Settings, to_asyncpg_url


class TestSettings:
    def test_plain_names_and_prefixed_names_are_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PORT", "9001")
        monkeypatch.setenv("DATABASE_URL", "postgres://u:p@h:5432/db")
        monkeypatch.setenv("NTM_LOG_LEVEL", "DEBUG")
        settings = Settings()
        assert settings.port == 9001
        assert settings.async_database_url == "postgresql+asyncpg://u:p@h:5432/db"
        assert settings.log_level == "DEBUG"

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("postgresql://a/b", "postgresql+asyncpg://a/b"),
            ("postgresql+asyncpg://a/b", "postgresql+asyncpg://a/b"),
            ("postgres://a/b", "postgresql+asyncpg://a/b"),
        ],
    )
    def test_any_postgres_scheme_becomes_asyncpg(self, url: str, expected: str) -> None:
        assert to_asyncpg_url(url) == expected

    def test_a_non_postgres_url_is_refused(self) -> None:
        with pytest.raises(ValueError, match="not a PostgreSQL URL"):
            to_asyncpg_url("sqlite:///x.db")
