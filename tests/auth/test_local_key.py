"""The embedded mode's own key: `ntm token` mints tokens the services accept, the key is made
once (0600) and kept, and the embedded app publishes its public half as a JWKS."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import jwt
import pytest

from services.cli import build_parser
from services.runtime import create_embedded_app
from shared.auth import authenticator_for, local_key
from shared.settings import Settings


def run_token(*argv: str) -> None:
    """`ntm token …` as `main` runs it, without reconfiguring the test run's logging."""
    args = build_parser().parse_args(["token", *argv])
    args.func(args, Settings())


def mint(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    run_token(*argv)
    return capsys.readouterr().out.strip()


class TestTokenCommand:
    async def test_a_minted_token_names_the_role_and_unit_and_verifies(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("NTM_DATA_DIR", str(tmp_path))
        token = mint(
            capsys, "--role", "integrator", "--unit", "38", "--ttl", "120",
            "--scope", "import:transfers", "--scope", "read:transfers", "--subject", "cong-38",
        )  # fmt: skip
        key_file = tmp_path / "auth" / "signing-key.pem"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] == 120
        assert claims["iss"] == "ntm-local"
        principal = await authenticator_for(Settings()).verify(token)
        assert (principal.role, principal.unit, principal.subject) == ("integrator", "38",
                                                                        "cong-38")  # fmt: skip
        assert principal.scopes == {"import:transfers", "read:transfers"}

        pem = key_file.read_bytes()
        again = mint(capsys, "--role", "central_officer")
        assert jwt.get_unverified_header(again)["kid"] == jwt.get_unverified_header(token)["kid"]
        assert key_file.read_bytes() == pem  # kept, not replaced

    def test_a_unit_that_does_not_fit_the_role_is_refused(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        monkeypatch.setenv("NTM_DATA_DIR", str(tmp_path))
        with pytest.raises(SystemExit, match="cannot be bound to unit 38"):
            run_token("--role", "commune_officer", "--unit", "38")
        assert capsys.readouterr().out == ""


class TestPublishedKey:
    async def test_the_embedded_app_serves_the_local_public_key(
        self, settings: Settings, database_url: str
    ) -> None:
        app = create_embedded_app(settings, database_url)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ntm"
        ) as client:
            response = await client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        keys = response.json()["keys"]
        key = local_key(settings.auth_key_path)
        assert [k["kid"] for k in keys] == [key.kid]
        assert keys[0]["kty"] == "EC"
        assert keys[0]["alg"] == "ES256"
        assert "d" not in keys[0]  # the public half only
        token = key.sign({"sub": "x", "role": "auditor", "iss": settings.auth_issuer,
                          "aud": settings.auth_audience, "iat": 1, "exp": 2**40})  # fmt: skip
        assert (
            jwt.decode(
                token, jwt.PyJWK(keys[0]), algorithms=["ES256"], audience=settings.auth_audience
            )["role"]
            == "auditor"
        )
