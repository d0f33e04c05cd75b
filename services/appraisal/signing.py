"""Ed25519 signing of decisions: the key, its id, and offline verification.

The private key comes from `NTM_APPRAISAL_SIGNING_KEY_FILE` (a PEM file, the way a deployment
shares one key between replicas), else from `<data dir>/appraisal-signing-key.pem`, generated
there on first use (mode 0600). Anyone can verify a decision with the published public key:
the signature covers the canonical JSON of the decision record (`domain.audit.canonical`)."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE_ENV = "NTM_APPRAISAL_SIGNING_KEY_FILE"
KEY_FILE_NAME = "appraisal-signing-key.pem"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        raw = self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data)


def load_or_create(path: Path) -> SigningKey:
    """The key in `path`, created there (0600) when the file does not exist."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return SigningKey(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return SigningKey(private)


def key_path(data_dir: Path) -> Path:
    configured = os.environ.get(KEY_FILE_ENV)
    return Path(configured) if configured else data_dir / KEY_FILE_NAME


def verify(public_pem: str, data: bytes, signature_b64: str) -> bool:
    """Offline check of a decision's signature with nothing but the public key."""
    public = serialization.load_pem_public_key(public_pem.encode())
    if not isinstance(public, Ed25519PublicKey):
        return False
    try:
        public.verify(base64.b64decode(signature_b64), data)
    except InvalidSignature:
        return False
    return True
