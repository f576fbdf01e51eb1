"""Kubeconfigs for tests: client certificates with a chosen lifetime (built with `cryptography`), and a working
kubeconfig with one more field in one of its entries."""

import base64
import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def client_certificate(*, not_after: datetime, name: str = "kubecfg-admin") -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) of a self-signed client certificate valid until `not_after` (the
    API servers of the tests never ask for one: only its lifetime matters)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"), x509.NameAttribute(NameOID.COMMON_NAME, name)]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(not_after, datetime.now(UTC)) - timedelta(days=1))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def with_client_certificate(kubeconfig: dict[str, Any], *, not_after: datetime) -> dict[str, Any]:
    """`kubeconfig` whose every user also holds a client certificate valid until `not_after` (its token, if any,
    is kept: the token authenticates, the certificate's notAfter is what onboarding reads)."""
    certificate, key = client_certificate(not_after=not_after)
    changed = copy.deepcopy(kubeconfig)
    for user in changed["users"]:
        user["user"] = {
            **(user.get("user") or {}),
            "client-certificate-data": base64.b64encode(certificate).decode(),
            "client-key-data": base64.b64encode(key).decode(),
        }
    return changed


def with_field(kubeconfig: dict[str, Any], section: str, key: str, value: Any, *, index: int = 0) -> dict[str, Any]:
    """`kubeconfig` with `key: value` added to the cluster/user/context body of entry `index` of `section`."""
    changed = copy.deepcopy(kubeconfig)
    body_key = {"clusters": "cluster", "users": "user", "contexts": "context"}[section]
    entry = changed[section][index]
    entry[body_key] = {**(entry.get(body_key) or {}), key: value}
    return changed


def as_text(kubeconfig: dict[str, Any]) -> str:
    return json.dumps(kubeconfig)
