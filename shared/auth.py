"""Authentication: who calls, from a bearer JWT (contract.md, "Auth").

Tokens are verified with PyJWT: RS256 or ES256 only (never `none`, never a shared secret), the
issuer, the audience and the expiry checked with a small leeway. Keys come from the identity
provider's JWKS (`NTM_AUTH_JWKS_URL`), fetched with httpx and cached by `kid`; an unknown `kid`
fetches the set again (key rotation), at most once per `NTM_AUTH_JWKS_REFETCH_S`, so a flood
of made-up kids cannot hammer the provider. Without a JWKS URL (embedded and development
mode) a local ES256 key in `<data dir>/auth/` signs and verifies tokens; `ntm token` mints
them and the embedded app publishes its public half at `/.well-known/jwks.json`.

Claims: `sub`, `role`, `unit` (an official code; absent means the whole country, for the
roles that may have it), `sectors` (an appraiser's), `scope` (space-separated, an
integrator's, e.g. `import:transfers`), `iss`, `aud`, `exp`, `iat`.

The caller's `Authorization` header is remembered for the request (`forward_authorization`)
and added to calls to other services (`propagate_authorization`, an httpx request hook), so
service-to-service calls carry the caller's identity.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from shared.errors import ProblemError
from shared.settings import Environment, Settings

log = logging.getLogger("ntm.auth")

ALGORITHMS = ("RS256", "ES256")
ROLES = (
    "commune_officer",
    "district_officer",
    "province_officer",
    "appraiser",
    "central_officer",
    "auditor",
    "integrator",
)
Level = Literal["commune", "district", "province", "central"]
LEVEL_OF_LENGTH: dict[int, Level] = {2: "province", 3: "district", 5: "commune"}
# the unit a role is bound to: the levels its code may have (None: the whole country)
ROLE_LEVELS: dict[str, frozenset[Level | None]] = {
    "commune_officer": frozenset({"commune"}),
    "district_officer": frozenset({"district"}),
    "province_officer": frozenset({"province"}),
    "appraiser": frozenset({"province", "district", None}),
    "central_officer": frozenset({None}),
    "auditor": frozenset({"commune", "district", "province", None}),
    "integrator": frozenset({"commune", "district", "province", None}),
}
UNIT_CODE = re.compile(r"^(\d{2}|\d{3}|\d{5})$")
WORD = re.compile(r"^[A-Za-z0-9_.:/-]{1,100}$")
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
VERIFIED_S = 60.0  # how long a verified token is trusted without checking its signature again
VERIFIED_MAX = 10_000  # tokens remembered; the oldest are forgotten first
KEY_FILE_NAME = "signing-key.pem"


# --------------------------------------------------------------------------- errors


class AuthError(ProblemError):
    """401: no usable credentials. `WWW-Authenticate` tells the client what to send."""

    status = 401
    code = "auth.token_invalid"

    def __init__(self, message_vi: str, message_en: str, *, error: str | None = None) -> None:
        super().__init__(message_vi, message_en)
        challenge = 'Bearer realm="ntm"'
        if error is not None:
            description = message_en.replace('"', "'").replace("\\", "/")
            challenge += f', error="{error}", error_description="{description}"'
        self.headers = {"WWW-Authenticate": challenge}


class TokenMissing(AuthError):
    code = "auth.token_missing"

    def __init__(self) -> None:
        super().__init__(
            "Cần đăng nhập: gửi mã truy cập trong tiêu đề 'Authorization: Bearer <token>'.",
            "Authentication required: send an access token as 'Authorization: Bearer <token>'.",
        )


class TokenInvalid(AuthError):
    code = "auth.token_invalid"

    def __init__(self, why_vi: str, why_en: str) -> None:
        self.reason = why_en
        super().__init__(
            f"Mã truy cập không hợp lệ: {why_vi}.",
            f"Invalid access token: {why_en}.",
            error="invalid_token",
        )


class TokenExpired(AuthError):
    code = "auth.token_expired"

    def __init__(self) -> None:
        super().__init__(
            "Mã truy cập đã hết hạn; hãy lấy mã mới.",
            "The access token has expired; obtain a new one.",
            error="invalid_token",
        )


class KeysUnavailable(ProblemError):
    status = 503
    code = "auth.keys_unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"Không lấy được khoá xác thực từ máy chủ định danh ({detail}); thử lại sau.",
            f"The identity provider's keys could not be fetched ({detail}); try again later.",
        )


# --------------------------------------------------------------------------- the principal


def level_of(unit: str | None) -> Level:
    """A unit code's level by its length (2 province, 3 district, 5 commune); none: central."""
    return "central" if unit is None else LEVEL_OF_LENGTH[len(unit)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: a role bound to a unit (or to the whole country)."""

    subject: str
    role: str
    unit: str | None = None
    sectors: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()

    @property
    def level(self) -> Level:
        return level_of(self.unit)

    @property
    def national(self) -> bool:
        return self.unit is None


def _words(value: object, claim: str) -> frozenset[str]:
    """A space-separated string or a list of strings (IdPs write both)."""
    if value is None:
        return frozenset()
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list) or not all(
        isinstance(i, str) and WORD.fullmatch(i) for i in items
    ):
        raise TokenInvalid(f"claim '{claim}' sai dạng", f"claim '{claim}' is malformed")
    return frozenset(items)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The principal a verified token names, or TokenInvalid when its claims do not fit a
    role: an unknown role, a unit code of the wrong level for it."""
    role = claims.get("role")
    if role not in ROLES:
        raise TokenInvalid(f"vai trò '{role}' không tồn tại", f"unknown role '{role}'")
    assert isinstance(role, str)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 200:
        raise TokenInvalid("thiếu 'sub'", "claim 'sub' is missing or too long")
    unit = claims.get("unit")
    if unit is not None and (not isinstance(unit, str) or not UNIT_CODE.fullmatch(unit)):
        raise TokenInvalid(
            f"mã đơn vị '{unit}' không hợp lệ (2, 3 hoặc 5 chữ số)",
            f"unit code '{unit}' is invalid (2, 3 or 5 digits)",
        )
    bound: Level | None = LEVEL_OF_LENGTH[len(unit)] if unit else None
    if bound not in ROLE_LEVELS[role]:
        raise TokenInvalid(
            f"vai trò {role} không gắn với đơn vị {unit or '(cả nước)'}",
            f"role {role} cannot be bound to unit {unit or '(the whole country)'}",
        )
    return Principal(
        subject=subject,
        role=role,
        unit=unit,
        sectors=_words(claims.get("sectors"), "sectors"),
        scopes=_words(claims.get("scope"), "scope"),
    )


# --------------------------------------------------------------------------- the local key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class LocalSigningKey:
    """The embedded mode's ES256 key: signs `ntm token`'s tokens, verifies them."""

    private: ec.EllipticCurvePrivateKey

    @property
    def public_jwk(self) -> dict[str, str]:
        jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        assert isinstance(jwk, dict)
        return {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}

    @property
    def kid(self) -> str:
        """The RFC 7638 thumbprint of the public key: a new key gets a new id by itself."""
        jwk = ECAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        assert isinstance(jwk, dict)
        members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        return _b64(hashlib.sha256(canonical).digest())

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.public_jwk]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self.private, algorithm="ES256", headers={"kid": self.kid})


_local_keys: dict[Path, LocalSigningKey] = {}
_local_lock = threading.Lock()


def local_key(directory: Path) -> LocalSigningKey:
    """The key in `directory`, created there (0600) on first use; loaded once per process."""
    path = directory / KEY_FILE_NAME
    with _local_lock:
        found = _local_keys.get(path)
        if found is None:
            found = _local_keys[path] = _load_or_create(path)
        return found


def _load_or_create(path: Path) -> LocalSigningKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it meanwhile: use theirs
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            return LocalSigningKey(private)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{path} does not hold a P-256 (ES256) private key")
    return LocalSigningKey(key)


def mint_claims(
    *,
    issuer: str,
    audience: str,
    role: str,
    unit: str | None,
    ttl_s: int,
    scopes: Iterable[str] = (),
    sectors: Iterable[str] = (),
    subject: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The claims of a token for `role` at `unit`, checked as a verifier would check them."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject or f"{role}@{unit or 'vn'}",
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    if unit is not None:
        claims["unit"] = unit
    if scopes:
        claims["scope"] = " ".join(sorted(set(scopes)))
    if sectors:
        claims["sectors"] = sorted(set(sectors))
    principal_from_claims(claims)  # refuse to mint what no service would accept
    return claims


def mint_local_token(
    settings: Settings,
    *,
    role: str,
    unit: str | None,
    ttl_s: int = 3600,
    scopes: Iterable[str] = (),
    sectors: Iterable[str] = (),
    subject: str | None = None,
) -> str:
    """A token signed with the local key (`ntm token`, tests, the relay in embedded mode)."""
    claims = mint_claims(
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        role=role,
        unit=unit,
        ttl_s=ttl_s,
        scopes=scopes,
        sectors=sectors,
        subject=subject,
    )
    return local_key(settings.auth_key_path).sign(claims)


# --------------------------------------------------------------------------- key sources


class JwksKeys:
    """The provider's keys, cached by `kid`; an unknown `kid` fetches the set again (rotation)
    no more often than once per `refetch_s`, and the whole set is fetched again once older
    than `max_age_s` (kept if the provider does not answer then)."""

    def __init__(
        self, url: str, *, refetch_s: float, max_age_s: float, timeout_s: float = 5.0
    ) -> None:
        self.url = url
        self.refetch_s = refetch_s
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at: float | None = None  # last successful fetch
        self.attempted_at: float | None = None  # last fetch, successful or not
        self.fetches = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def _fetch_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _may_fetch(self, now: float) -> bool:
        return self.attempted_at is None or now - self.attempted_at >= self.refetch_s

    def _stale(self, now: float) -> bool:
        return self.fetched_at is None or now - self.fetched_at >= self.max_age_s

    async def key(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        found = self.keys.get(kid)
        if found is not None and not self._stale(now):
            return found
        async with self._fetch_lock():
            now = time.monotonic()
            found = self.keys.get(kid)
            if (found is None or self._stale(now)) and self._may_fetch(now):
                await self._fetch(now)
            return self.keys.get(kid)

    async def _fetch(self, now: float) -> None:
        self.attempted_at = now
        self.fetches += 1
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(self.url, headers={"accept": "application/json"})
            response.raise_for_status()
            keys = parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch failed", extra={"url": self.url, "error": repr(exc)})
            if not self.keys:
                raise KeysUnavailable(type(exc).__name__) from exc
            return  # keep the keys we have
        self.keys = keys
        self.fetched_at = now
        log.info("JWKS fetched", extra={"url": self.url, "kids": sorted(keys)})


def parse_jwks(document: object) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document, by `kid`: RSA and EC keys for RS256 and
    ES256; keys for encryption, of other types or algorithms, or without a `kid` are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWKS document")
    out: dict[str, jwt.PyJWK] = {}
    for item in document["keys"]:
        if not isinstance(item, dict) or not isinstance(item.get("kid"), str):
            continue
        if item.get("use", "sig") != "sig" or item.get("kty") not in ("RSA", "EC"):
            continue
        if item.get("alg") is not None and item["alg"] not in ALGORITHMS:
            continue
        try:
            key = jwt.PyJWK(item)
        except jwt.PyJWTError:
            continue
        if key.algorithm_name in ALGORITHMS:
            out[item["kid"]] = key
    return out


class LocalKeys:
    """The local key as a key source."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._public: tuple[str, jwt.PyJWK] | None = None

    async def key(self, kid: str) -> jwt.PyJWK | None:
        if self._public is None:
            local = local_key(self.directory)
            self._public = (local.kid, jwt.PyJWK(local.public_jwk))
        found_kid, public = self._public
        return public if kid == found_kid else None


# --------------------------------------------------------------------------- verification


@dataclass
class Authenticator:
    """Verifies bearer tokens for one process (every app of it shares one: one key cache)."""

    keys: JwksKeys | LocalKeys
    issuer: str
    audience: str
    leeway_s: int
    anonymous_aggregates: bool = False
    local: bool = field(default=False)
    # tokens verified lately: the same token reaches the gateway and then each service it
    # calls (and a client sends it again and again); kept until its expiry or VERIFIED_S
    _verified: OrderedDict[str, tuple[Principal, float]] = field(
        default_factory=OrderedDict, repr=False
    )

    async def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal of an `Authorization` header; None when there is none."""
        if authorization is None or not authorization.strip():
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenInvalid(
                "chỉ nhận 'Authorization: Bearer <token>'",
                "only 'Authorization: Bearer <token>' is accepted",
            )
        return await self.verify(token.strip())

    async def verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._verified.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal, expires = await self._verify(token)
        self._verified[token] = (principal, min(expires, now + VERIFIED_S))
        if len(self._verified) > VERIFIED_MAX:
            self._verified.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenInvalid("không đọc được", "not a JWT") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenInvalid(
                f"thuật toán '{alg}' không được chấp nhận (chỉ RS256, ES256)",
                f"algorithm '{alg}' is not accepted (RS256 or ES256 only)",
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenInvalid("thiếu 'kid'", "the header names no key ('kid')")
        key = await self.keys.key(kid)
        if key is None:
            raise TokenInvalid(f"khoá '{kid}' không xác định", f"unknown signing key '{kid}'")
        if key.algorithm_name != alg:
            raise TokenInvalid(
                f"khoá '{kid}' không dùng cho {alg}", f"key '{kid}' is not an {alg} key"
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenInvalid("sai nơi cấp (iss)", "wrong issuer (iss)") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenInvalid("sai đối tượng (aud)", "wrong audience (aud)") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise TokenInvalid(f"thiếu '{exc.claim}'", f"claim '{exc.claim}' is missing") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenInvalid("chưa có hiệu lực", "not valid yet") from exc
        except jwt.PyJWTError as exc:
            raise TokenInvalid("chữ ký hoặc nội dung sai", "bad signature or claims") from exc
        return principal_from_claims(claims), float(claims["exp"])


_authenticators: dict[tuple[object, ...], Authenticator] = {}


def authenticator_for(settings: Settings) -> Authenticator:
    """The process's authenticator for these settings (apps of one process share it)."""
    if (
        settings.auth_jwks_url is None
        and settings.auth_key_dir is None
        and settings.env is Environment.production
    ):
        # a key made up in each replica's data folder would verify only its own tokens
        raise RuntimeError(
            "NTM_AUTH_JWKS_URL (an identity provider) or NTM_AUTH_KEY_DIR (a signing key shared"
            " by every replica) is required when NTM_ENV=production"
        )
    config = (
        settings.auth_jwks_url,
        settings.auth_key_path,
        settings.auth_issuer,
        settings.auth_audience,
        settings.auth_leeway_s,
        settings.auth_jwks_refetch_s,
        settings.auth_jwks_max_age_s,
        settings.auth_anonymous_aggregates,
    )
    found = _authenticators.get(config)
    if found is None:
        keys: JwksKeys | LocalKeys = (
            JwksKeys(
                settings.auth_jwks_url,
                refetch_s=settings.auth_jwks_refetch_s,
                max_age_s=settings.auth_jwks_max_age_s,
            )
            if settings.auth_jwks_url
            else LocalKeys(settings.auth_key_path)
        )
        found = _authenticators[config] = Authenticator(
            keys=keys,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway_s=settings.auth_leeway_s,
            anonymous_aggregates=settings.auth_anonymous_aggregates,
            local=settings.auth_jwks_url is None,
        )
    return found


# --------------------------------------------------------------------------- forwarding

_forwarded: ContextVar[str | None] = ContextVar("ntm_forwarded_authorization", default=None)


def forward_authorization(value: str | None) -> None:
    """Remember the caller's `Authorization` for calls made on its behalf in this request."""
    _forwarded.set(value)


async def propagate_authorization(request: httpx.Request) -> None:
    """httpx request hook: the caller's `Authorization` on an upstream call without its own."""
    value = _forwarded.get()
    if value and "authorization" not in request.headers:
        request.headers["Authorization"] = value


class ServiceCredentials:
    """The `Authorization` a service presents when it acts on its own (appraisal's outbox
    relay): the configured token, or one minted with the local key and renewed before expiry."""

    TTL_S = 3600

    def __init__(self, settings: Settings, *, scopes: Iterable[str]) -> None:
        self.settings = settings
        self.scopes = tuple(scopes)
        self._token: str | None = None
        self._renew_at = 0.0

    def header(self) -> str | None:
        if self.settings.auth_service_token:
            return f"Bearer {self.settings.auth_service_token}"
        if self.settings.auth_jwks_url is not None:
            return None  # a provider's deployment must configure the token
        if self._token is None or time.monotonic() >= self._renew_at:
            self._token = mint_local_token(
                self.settings,
                role="integrator",
                unit=None,
                ttl_s=self.TTL_S,
                scopes=self.scopes,
                subject="ntm-service",
            )
            self._renew_at = time.monotonic() + self.TTL_S / 2
        return f"Bearer {self._token}"
