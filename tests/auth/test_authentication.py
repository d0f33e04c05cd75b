"""Bearer tokens verified against an identity provider's JWKS served over real HTTP (a tiny
http.server on a free port): RS256 and ES256 accepted; wrong issuer, wrong audience, expiry,
unknown keys, `alg: none` and algorithm confusion refused (401, `WWW-Authenticate: Bearer`);
the key set fetched again on an unknown `kid` (rotation), at most once per refetch window; and a
service answering 401 problem+json on its routes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from services.criteria.app import create_app as create_criteria_app
from shared.auth import Authenticator, Principal, authenticator_for, mint_claims
from shared.db import Database
from shared.errors import ProblemError
from shared.settings import Settings

ISSUER = "https://id.example.gov.vn/"
AUDIENCE = "ntm-api"


@dataclass
class Key:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        body = (
            RSAAlgorithm.to_jwk(public, as_dict=True)
            if self.alg == "RS256"
            else ECAlgorithm.to_jwk(public, as_dict=True)
        )
        assert isinstance(body, dict)
        return {**body, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"kid": self.kid, **header}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=headers)


def rsa_key(kid: str) -> Key:
    return Key(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> Key:
    return Key(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class IdentityProvider:
    """A JWKS endpoint whose key set a test can change, counting the fetches."""

    url: str = ""
    keys: list[Key] = field(default_factory=list)
    fetches: int = 0
    up: bool = True

    def document(self) -> bytes:
        return json.dumps({"keys": [k.jwk() for k in self.keys]}).encode()


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider(keys=[rsa_key("rsa-1"), ec_key("ec-1")])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            provider.fetches += 1
            if not provider.up:
                self.send_error(503)
                return
            body = provider.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    provider.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()


def idp_settings(base: Settings, idp: IdentityProvider, **extra: Any) -> Settings:
    return base.model_copy(
        update={
            "auth_jwks_url": idp.url,
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
            "auth_jwks_refetch_s": 60.0,
            **extra,
        }
    )


def claims(**overrides: Any) -> dict[str, Any]:
    base = mint_claims(
        issuer=ISSUER, audience=AUDIENCE, role="district_officer", unit="395", ttl_s=300,
        subject="nguyen.van.a",
    )  # fmt: skip
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def auth(idp: IdentityProvider, tmp_path: Path) -> Authenticator:
    """A fresh authenticator (its own key cache) of the provider."""
    return authenticator_for(idp_settings(Settings(auth_key_dir=tmp_path), idp))


async def verified(auth: Authenticator, authorization: str | None) -> Principal | ProblemError:
    """The principal of an `Authorization` header, or the refusal raised."""
    try:
        principal = await auth.authenticate(authorization)
    except ProblemError as exc:
        return exc
    assert principal is not None
    return principal


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refused(result: Principal | ProblemError, code: str) -> ProblemError:
    assert isinstance(result, ProblemError), result
    assert (result.status, result.code) == (401, code)
    assert result.headers is not None
    assert result.headers["WWW-Authenticate"].startswith("Bearer")
    assert result.message_vi
    assert result.message_en
    return result


class TestTokensFromAJwks:
    async def test_rs256_and_es256_tokens_of_the_provider_are_accepted(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        for key in idp.keys:
            principal = await verified(auth, bearer(key.sign(claims())))
            assert principal == Principal(subject="nguyen.van.a", role="district_officer",
                                          unit="395")  # fmt: skip
        assert idp.fetches == 1  # both kids came with the first fetch

    async def test_the_claims_make_the_principal(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        token = idp.keys[1].sign(
            claims(role="integrator", unit="38", scope="import:transfers read:transfers")
        )
        principal = await auth.verify(token)
        assert principal == Principal(
            subject="nguyen.van.a",
            role="integrator",
            unit="38",
            scopes=frozenset({"import:transfers", "read:transfers"}),
        )
        assert principal.level == "province"
        appraiser = await auth.verify(
            idp.keys[0].sign(claims(role="appraiser", unit="38", sectors=["transport"]))
        )
        assert appraiser.sectors == frozenset({"transport"})
        national = await auth.verify(idp.keys[0].sign(claims(role="auditor", unit=None)))
        assert national.national
        assert national.level == "central"

    async def test_no_header_is_no_principal_and_a_malformed_one_is_refused(
        self, auth: Authenticator
    ) -> None:
        assert await auth.authenticate(None) is None
        assert await auth.authenticate("  ") is None
        refused(await verified(auth, "Basic YTpi"), "auth.token_invalid")
        refused(await verified(auth, "Bearer not.a.jwt"), "auth.token_invalid")

    async def test_wrong_issuer_or_audience_is_refused(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        key = idp.keys[0]
        wrong_issuer = refused(
            await verified(auth, bearer(key.sign(claims(iss="https://other.example/")))),
            "auth.token_invalid",
        )
        assert "(iss)" in wrong_issuer.message_en
        wrong_audience = refused(
            await verified(auth, bearer(key.sign(claims(aud="another-api")))),
            "auth.token_invalid",
        )
        assert "(aud)" in wrong_audience.message_en
        without_aud = claims()
        del without_aud["aud"]
        refused(await verified(auth, bearer(key.sign(without_aud))), "auth.token_invalid")

    async def test_an_expired_token_is_refused_beyond_the_leeway(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        now = int(time.time())
        key = idp.keys[1]
        expired = refused(
            await verified(auth, bearer(key.sign(claims(iat=now - 600, exp=now - 120)))),
            "auth.token_expired",
        )
        assert expired.headers is not None
        assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
        just = await verified(auth, bearer(key.sign(claims(iat=now - 600, exp=now - 5))))
        assert isinstance(just, Principal)  # within the 30 s leeway

    async def test_claims_that_fit_no_role_are_refused(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        key = idp.keys[0]
        for bad in (
            claims(role="mayor"),
            claims(role="commune_officer", unit="38"),  # a commune role bound to a province
            claims(role="central_officer", unit="38"),
            claims(unit="3950"),
            claims(role="integrator", unit=None, scope=["bad scope!"]),
        ):
            refused(await verified(auth, bearer(key.sign(bad))), "auth.token_invalid")


class TestAlgorithms:
    async def test_alg_none_is_refused_without_asking_the_provider(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        unsigned = jwt.encode(claims(), "", algorithm="none", headers={"kid": "rsa-1"})
        refused(await verified(auth, bearer(unsigned)), "auth.token_invalid")
        assert idp.fetches == 0

    async def test_an_hs256_token_keyed_with_the_public_key_is_refused(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        public_pem = (
            idp.keys[0]
            .private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        # PyJWT refuses to HMAC with a PEM, as an attacker's library would not: sign by hand
        header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
        forged = _hs256(header, claims(), public_pem)
        refused(await verified(auth, bearer(forged)), "auth.token_invalid")

    async def test_a_key_is_used_only_with_its_own_algorithm_and_signature(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        # signed by the EC key but naming the RSA key's kid
        mislabelled = jwt.encode(
            claims(), idp.keys[1].private, algorithm="ES256", headers={"kid": "rsa-1"}
        )
        refused(await verified(auth, bearer(mislabelled)), "auth.token_invalid")
        head, _, signature = idp.keys[0].sign(claims()).split(".")
        other = idp.keys[0].sign(claims(role="central_officer", unit=None)).split(".")[1]
        refused(await verified(auth, bearer(f"{head}.{other}.{signature}")), "auth.token_invalid")


def _hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (
        b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    ).encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return signing_input.decode() + "." + b64(signature)


class TestKeyRotation:
    async def test_an_unknown_kid_fetches_the_set_again_and_a_rotated_key_is_accepted(
        self, idp: IdentityProvider, tmp_path: Path
    ) -> None:
        auth = authenticator_for(
            idp_settings(Settings(auth_key_dir=tmp_path), idp, auth_jwks_refetch_s=0.0)
        )
        old = idp.keys[0]
        assert isinstance(await verified(auth, bearer(old.sign(claims()))), Principal)
        assert idp.fetches == 1
        rotated = ec_key("ec-2")
        idp.keys = [rotated]  # the provider rotates: the old keys are gone
        assert isinstance(await verified(auth, bearer(rotated.sign(claims()))), Principal)
        assert idp.fetches == 2
        # a cached key is used without asking again
        assert isinstance(await verified(auth, bearer(rotated.sign(claims()))), Principal)
        assert idp.fetches == 2

    async def test_a_flood_of_unknown_kids_fetches_the_set_at_most_once_per_window(
        self, auth: Authenticator, idp: IdentityProvider
    ) -> None:
        assert isinstance(await verified(auth, bearer(idp.keys[0].sign(claims()))), Principal)
        intruder = rsa_key("made-up")
        for n in range(20):
            intruder.kid = f"made-up-{n}"
            refused(await verified(auth, bearer(intruder.sign(claims()))), "auth.token_invalid")
        assert idp.fetches == 1  # the first fetch is within the 60 s window

    async def test_a_provider_that_does_not_answer_at_first_is_a_503(
        self, idp: IdentityProvider, tmp_path: Path
    ) -> None:
        idp.up = False
        auth = authenticator_for(
            idp_settings(Settings(auth_key_dir=tmp_path), idp, auth_jwks_refetch_s=0.0)
        )
        with pytest.raises(ProblemError) as unavailable:
            await auth.verify(idp.keys[0].sign(claims()))
        assert unavailable.value.status == 503
        assert unavailable.value.code == "auth.keys_unavailable"
        idp.up = True
        principal = await auth.verify(idp.keys[0].sign(claims()))
        assert principal.unit == "395"


class TestVerifiedTokens:
    async def test_a_remembered_token_still_expires_on_time(
        self, idp: IdentityProvider, tmp_path: Path
    ) -> None:
        auth = authenticator_for(
            idp_settings(Settings(auth_key_dir=tmp_path), idp, auth_leeway_s=0)
        )
        now = int(time.time())
        token = idp.keys[0].sign(claims(iat=now, exp=now + 1))
        assert isinstance(await verified(auth, bearer(token)), Principal)
        assert isinstance(await verified(auth, bearer(token)), Principal)  # remembered
        await asyncio.sleep(max(0.0, now + 1 - time.time()) + 0.1)
        refused(await verified(auth, bearer(token)), "auth.token_expired")


class TestConfiguration:
    def test_production_needs_a_provider_or_a_shared_key(self, tmp_path: Path) -> None:
        with pytest.raises(RuntimeError, match="NTM_AUTH_JWKS_URL"):
            authenticator_for(Settings(env="production", data_dir=tmp_path))
        shared = authenticator_for(Settings(env="production", auth_key_dir=tmp_path / "secret"))
        assert shared.local

    def test_the_deployment_names_of_the_settings_are_read(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("NTM_JWKS_URL", "https://id.example/jwks")
        monkeypatch.setenv("NTM_JWT_ISSUER", "https://id.example/")
        monkeypatch.setenv("NTM_JWT_AUDIENCE", "ntm")
        configured = Settings()
        assert configured.auth_jwks_url == "https://id.example/jwks"
        assert configured.auth_issuer == "https://id.example/"


# a route that needs a token (evaluations are aggregates, closed to anonymous callers)
GUARDED = "/v1/units/15592/evaluation?set=xa-ntm-2021&year=2023&as_of=2023-05-19"


class TestOverHttp:
    """A service verifies the provider's tokens on its routes and answers 401 problem+json."""

    @pytest.fixture
    async def client(
        self, settings: Settings, db: Database, idp: IdentityProvider
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_criteria_app(idp_settings(settings, idp), db)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://criteria") as c:
            yield c

    async def test_a_providers_token_opens_a_guarded_route(
        self, client: httpx.AsyncClient, idp: IdentityProvider
    ) -> None:
        for key in idp.keys:
            response = await client.get(
                GUARDED, headers={"Authorization": bearer(key.sign(claims()))}
            )
            assert response.status_code == 200, response.text

    async def test_refusals_are_401_problems_with_a_bearer_challenge(
        self, client: httpx.AsyncClient, idp: IdentityProvider
    ) -> None:
        now = int(time.time())
        expired = idp.keys[0].sign(claims(iat=now - 600, exp=now - 120))
        for headers, code in (
            ({}, "auth.token_missing"),
            ({"Authorization": bearer(expired)}, "auth.token_expired"),
            ({"Authorization": "Bearer x.y.z"}, "auth.token_invalid"),
        ):
            response = await client.get(GUARDED, headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"].startswith("Bearer")
            body = response.json()
            assert (body["code"], bool(body["message_vi"]), bool(body["message_en"])) == (
                code,
                True,
                True,
            )

    async def test_public_reference_data_needs_no_token(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/units/15592", params={"as_of": "2023-01-01"})
        assert response.status_code == 200
