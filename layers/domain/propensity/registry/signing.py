"""Who vouches for a registry record: a digest locally, a KMS asymmetric signature on S3.

Every record the registry writes (registrations, gate results, approvals, alias moves) carries
a ``Seal`` over its canonical JSON. Readers refuse a record whose seal does not verify.

- ``DigestSigner`` (the local folder registry): the seal is the SHA-256 of the record. It
  catches a changed byte, a truncated or half-edited file, and a record copied under another
  version's name; it does NOT stop someone who can write the folder from writing a new,
  self-consistent record: the folder's permissions (and git, for the lock file) are the guard.
- ``KmsSigner`` (an S3 registry): the seal is an ECDSA P-256 signature by a KMS key that only
  the publisher role may use (kms:Sign); every reader calls kms:Verify. Write access to the
  bucket alone cannot forge a record, and a digest seal is refused (no downgrade).
"""

from __future__ import annotations

import base64
import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel

SIGNING_ALGORITHM = "ECDSA_SHA_256"
SIGNING_KEY_ENV = "PROPENSITY_REGISTRY_SIGNING_KEY"

SealMode = Literal["sha256", "kms"]


class SealError(RuntimeError):
    """A record's seal is missing, of the wrong kind, or does not match the record."""


class Seal(BaseModel):
    """The proof attached to a record."""

    mode: SealMode
    value: str  # hex digest, or base64 signature
    key_id: str | None = None  # the KMS key ARN that signed


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes a seal covers: sorted keys, no whitespace (one serialisation per record)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


class Signer(ABC):
    """Seals records and checks seals."""

    mode: SealMode

    @abstractmethod
    def seal(self, payload: bytes) -> Seal:
        """A seal over ``payload``."""

    @abstractmethod
    def check(self, payload: bytes, seal: Seal) -> None:
        """Raise ``SealError`` unless ``seal`` is this signer's valid seal of ``payload``."""

    @property
    @abstractmethod
    def description(self) -> str:
        """One line for operators: what this signer proves."""


class DigestSigner(Signer):
    """SHA-256 of the record: integrity against accidents and edits, not against a forger."""

    mode: SealMode = "sha256"

    def seal(self, payload: bytes) -> Seal:
        return Seal(mode="sha256", value=hashlib.sha256(payload).hexdigest())

    def check(self, payload: bytes, seal: Seal) -> None:
        if seal.mode != "sha256":
            raise SealError(f"sealed with {seal.mode!r}, this registry checks sha256 digests")
        if hashlib.sha256(payload).hexdigest() != seal.value:
            raise SealError("its SHA-256 does not match its seal (the record was changed)")

    @property
    def description(self) -> str:
        return "local digests (detect changes, not forgery)"


class KmsSigner(Signer):
    """An asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY): signs with kms:Sign, checks with kms:Verify.

    The message is the record's SHA-256 (``MessageType=DIGEST``): records can exceed the 4 KiB
    limit of raw messages. ``key_id`` may be an ARN, key id or alias; the verifier also insists
    that the seal names the key's ARN: a record signed by another key (even a usable one) is refused.
    """

    mode: SealMode = "kms"

    def __init__(self, key_id: str, *, client: Any | None = None, region: str | None = None) -> None:
        if client is None:
            import boto3  # only for S3 registries

            client = boto3.client("kms", region_name=region)
        self.client = client
        self.key_id = key_id
        self._arn: str | None = None
        self._verified: set[tuple[str, str]] = set()

    @property
    def key_arn(self) -> str:
        if self._arn is None:
            self._arn = str(self.client.describe_key(KeyId=self.key_id)["KeyMetadata"]["Arn"])
        return self._arn

    def seal(self, payload: bytes) -> Seal:
        response = self.client.sign(
            KeyId=self.key_arn,
            Message=hashlib.sha256(payload).digest(),
            MessageType="DIGEST",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
        return Seal(
            mode="kms", value=base64.b64encode(response["Signature"]).decode(), key_id=str(response["KeyId"])
        )

    def check(self, payload: bytes, seal: Seal) -> None:
        if seal.mode != "kms":
            raise SealError(f"sealed with {seal.mode!r}; this registry accepts only KMS signatures")
        if seal.key_id != self.key_arn:
            raise SealError(f"signed by {seal.key_id}, not by the registry's key {self.key_arn}")
        memo = (hashlib.sha256(payload).hexdigest(), seal.value)
        if memo in self._verified:
            return  # the same bytes and signature were verified by KMS already in this process
        from botocore.exceptions import ClientError

        try:
            response = self.client.verify(
                KeyId=self.key_arn,
                Message=hashlib.sha256(payload).digest(),
                MessageType="DIGEST",
                Signature=base64.b64decode(seal.value),
                SigningAlgorithm=SIGNING_ALGORITHM,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "KMSInvalidSignatureException":
                raise SealError(
                    "its KMS signature does not verify (the record was changed or forged)"
                ) from error
            raise
        if not response.get("SignatureValid"):
            raise SealError("its KMS signature does not verify (the record was changed or forged)")
        self._verified.add(memo)

    @property
    def description(self) -> str:
        return f"KMS signatures by {self.key_id}"
