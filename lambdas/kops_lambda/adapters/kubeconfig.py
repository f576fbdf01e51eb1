"""What we accept in a kubeconfig, and the vetted fields of its current context that clients are built from.

Whoever can write a kubeconfig secret writes the document this reads. The Kubernetes client's own loader
would run its `exec:` and `auth-provider:` commands, read the files its path fields name and turn TLS
verification off when asked, so the whole document is vetted here and clients are built from `KubeAccess`
alone, never by that loader. Errors name the field and the entry (cluster, user or context), never a value.
"""

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

import urllib3
import yaml
from botocore.exceptions import ClientError

from kops_lambda.adapters.aws_errors import error_code, translated_aws_errors
from kops_lambda.adapters.kube import DEFAULT_RETRIES, BearerToken, KubeClient
from kops_lambda.errors import ClusterAccessError, KubeconfigExpired, UnsafeKubeconfig

# Fields the client library (kubernetes.config.kube_config) acts on that we refuse, and why.
_RUNS_A_COMMAND = "it would run a command in our functions"
_READS_A_FILE = "it names a file to read; put the content in the matching *-data field"
REFUSED_USER_FIELDS: dict[str, str] = {
    "exec": _RUNS_A_COMMAND,
    "auth-provider": _RUNS_A_COMMAND + " or read files (gcp cmd-path, oidc idp-certificate-authority)",
    "client-certificate": _READS_A_FILE,
    "client-key": _READS_A_FILE,
    "tokenFile": _READS_A_FILE,
    "token-file": _READS_A_FILE,
}
REFUSED_CLUSTER_FIELDS: dict[str, str] = {"certificate-authority": _READS_A_FILE}
# Any other path field a client may learn to read (kubectl's `*-file` flags, camelCase `*File` keys).
_FILE_FIELD = re.compile(r"(-file|File)$")
_ENTRY_KEYS = {"clusters": "cluster", "users": "user", "contexts": "context"}
Entries = dict[str, dict[str, dict[str, Any]]]  # section -> entry name -> its cluster/user/context mapping


@dataclass(frozen=True)
class KubeAccess:
    """The current context's server, CA and credential: everything a client is built from (a username and
    password, basic auth that Kubernetes dropped in 1.19, are not among them)."""

    context: str
    user: str | None
    server: str
    ca_pem: bytes | None = None
    tls_server_name: str | None = None
    token: str | None = field(default=None, repr=False)
    client_certificate_pem: bytes | None = field(default=None, repr=False)
    client_key_pem: bytes | None = field(default=None, repr=False)
    certificate_not_after: datetime | None = None
    """The client certificate's notAfter (UTC); None without a client certificate."""


def vet_kubeconfig(kubeconfig: Any, *, source: str = "kubeconfig") -> KubeAccess:
    """Refuse (UnsafeKubeconfig) what a kubeconfig must not ask of us, in every entry, then return the vetted
    fields of the current context. `source` names the document in errors (e.g. the secret's ARN)."""
    entries = _entries(kubeconfig, source)
    for cluster_name, cluster in entries["clusters"].items():
        _refuse_fields(cluster, REFUSED_CLUSTER_FIELDS, source=source, entry=f"cluster {cluster_name!r}")
        _vet_tls(cluster, source=source, entry=f"cluster {cluster_name!r}")
    for user_name, user in entries["users"].items():
        _refuse_fields(user, REFUSED_USER_FIELDS, source=source, entry=f"user {user_name!r}")
    for context_name, context in entries["contexts"].items():
        _refuse_fields(context, {}, source=source, entry=f"context {context_name!r}")
    return _current_access(kubeconfig, entries, source)


def _entries(kubeconfig: Any, source: str) -> Entries:
    """clusters/users/contexts by name; every entry a mapping with a unique name."""
    if not isinstance(kubeconfig, dict):
        raise ClusterAccessError(f"{source} is not a kubeconfig document")
    entries: Entries = {}
    for section, key in _ENTRY_KEYS.items():
        listed = kubeconfig.get(section) or []
        if not isinstance(listed, list):
            raise ClusterAccessError(f"{source}: {section} is not a list")
        named: dict[str, dict[str, Any]] = {}
        for entry in listed:
            name = entry.get("name") if isinstance(entry, dict) else None
            body = entry.get(key) if isinstance(entry, dict) else None
            if not isinstance(name, str) or name in named or not isinstance(body, dict | None):
                raise ClusterAccessError(f"{source}: every entry of {section} needs a unique name and a {key} mapping")
            named[name] = body or {}
        entries[section] = named
    return entries


def _refuse_fields(body: dict[str, Any], refused: dict[str, str], *, source: str, entry: str) -> None:
    for key in body:
        reason = refused.get(key) or (_READS_A_FILE if _FILE_FIELD.search(str(key)) else None)
        if reason:
            raise UnsafeKubeconfig(f"{source}: {entry} sets {key}, which we refuse: {reason}")


def _vet_tls(cluster: dict[str, Any], *, source: str, entry: str) -> None:
    # The library reads any truthy value (the string "false" too) as "skip verification": only false passes.
    if "insecure-skip-tls-verify" in cluster and cluster["insecure-skip-tls-verify"] is not False:
        raise UnsafeKubeconfig(
            f"{source}: {entry} sets insecure-skip-tls-verify, which we refuse: the server must be verified"
        )
    if urlparse(str(cluster.get("server", ""))).scheme == "https" and not cluster.get("certificate-authority-data"):
        raise UnsafeKubeconfig(
            f"{source}: {entry} has an https server without certificate-authority-data: it could not be verified"
        )


def _current_access(kubeconfig: dict[str, Any], entries: Entries, source: str) -> KubeAccess:
    context_name = kubeconfig.get("current-context")
    if not isinstance(context_name, str) or context_name not in entries["contexts"]:
        raise ClusterAccessError(f"{source} is malformed (no usable current context)")
    context = entries["contexts"][context_name]
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if not isinstance(cluster_name, str) or cluster_name not in entries["clusters"]:
        raise ClusterAccessError(f"{source}: context {context_name!r} names no cluster of the kubeconfig")
    cluster = entries["clusters"][cluster_name]
    server = str(cluster.get("server", "")).rstrip("/")
    parsed = urlparse(server)
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        raise ClusterAccessError(f"{source} names no server (no usable server URL) in cluster {cluster_name!r}")
    if user_name is not None and (not isinstance(user_name, str) or user_name not in entries["users"]):
        raise ClusterAccessError(f"{source}: context {context_name!r} names no user of the kubeconfig")
    user = entries["users"][user_name] if user_name is not None else {}
    entry = f"user {user_name!r}"
    token = user.get("token")
    if token is not None and not isinstance(token, str):
        raise ClusterAccessError(f"{source}: {entry} has a token that is not a string")
    certificate = _data(user, "client-certificate-data", source=source, entry=entry)
    key = _data(user, "client-key-data", source=source, entry=entry)
    if (certificate is None) != (key is None):
        raise ClusterAccessError(f"{source}: {entry} needs both client-certificate-data and client-key-data")
    tls_server_name = cluster.get("tls-server-name")
    return KubeAccess(
        context=context_name,
        user=user_name,
        server=server,
        ca_pem=_data(cluster, "certificate-authority-data", source=source, entry=f"cluster {cluster_name!r}"),
        tls_server_name=str(tls_server_name) if tls_server_name else None,
        token=token or None,
        client_certificate_pem=certificate,
        client_key_pem=key,
        certificate_not_after=_not_after(certificate, source=source, entry=entry) if certificate else None,
    )


def _data(body: dict[str, Any], key: str, *, source: str, entry: str) -> bytes | None:
    value = body.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(str(value))
    except (binascii.Error, ValueError):
        raise ClusterAccessError(f"{source}: {entry} has a {key} that is not base64") from None


def _not_after(certificate_pem: bytes, *, source: str, entry: str) -> datetime:
    # Imported here: about 0.2 s of cold start, paid only by kubeconfigs that hold a client certificate.
    from cryptography import x509  # noqa: PLC0415

    try:
        # The first certificate of the PEM is the client's own; a chain may follow it.
        return x509.load_pem_x509_certificate(certificate_pem).not_valid_after_utc
    except ValueError:
        raise ClusterAccessError(f"{source}: {entry} has client-certificate-data that is no PEM certificate") from None


@dataclass(frozen=True)
class ClusterEndpoint:
    """The API server and its CA (PEM) of a kubeconfig's current context: what a client of another identity
    (the drainer, the vendor's ServiceAccount) reaches the same cluster through."""

    server: str
    ca_pem: str | None


def cluster_endpoint(kubeconfig: Any, *, source: str = "kubeconfig") -> ClusterEndpoint:
    """The vetted server and CA of the current context (vet_kubeconfig), the CA as text."""
    access = vet_kubeconfig(kubeconfig, source=source)
    try:
        ca_pem = access.ca_pem.decode() if access.ca_pem else None
    except UnicodeDecodeError:
        raise ClusterAccessError(
            f"{source}: the certificate-authority-data of context {access.context!r} is not base64 of a PEM"
        ) from None
    return ClusterEndpoint(server=access.server, ca_pem=ca_pem)


def load_kubeconfig(secretsmanager: Any, secret_arn: str) -> dict[str, Any]:
    """Read a kubeconfig secret and vet the whole document (adapters/kubeconfig). Errors name the secret,
    never its content."""
    try:
        with translated_aws_errors("read kubeconfig secret"):
            value = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
    except ClientError as exc:
        raise ClusterAccessError(f"cannot read kubeconfig secret {secret_arn}: {error_code(exc)}") from exc
    try:
        kubeconfig = yaml.safe_load(value)
    except yaml.YAMLError:
        raise ClusterAccessError(f"kubeconfig secret {secret_arn} is not YAML") from None
    if not isinstance(kubeconfig, dict) or not all(
        isinstance(kubeconfig.get(key), list) and kubeconfig[key] for key in ("clusters", "users", "contexts")
    ):
        raise ClusterAccessError(f"kubeconfig secret {secret_arn} lacks clusters, users or contexts")
    vet_kubeconfig(kubeconfig, source=f"kubeconfig secret {secret_arn}")
    return kubeconfig


def api_client(
    kubeconfig: dict[str, Any], *, retries: urllib3.Retry = DEFAULT_RETRIES, connections: int | None = None
) -> KubeClient:
    """A client for the kubeconfig's current context, built from its vetted fields only (no kubeconfig loader
    is ever given the document)."""
    access = vet_kubeconfig(kubeconfig)
    if access.certificate_not_after is not None and access.certificate_not_after <= datetime.now(UTC):
        raise KubeconfigExpired(
            f"the client certificate of user {access.user!r} (context {access.context!r}) expired at "
            f"{access.certificate_not_after.isoformat()}"
        )
    return KubeClient(
        access.server,
        token=BearerToken(lambda: access.token or "") if access.token else None,
        ca_pem=access.ca_pem,
        client_certificate_pem=access.client_certificate_pem,
        client_key_pem=access.client_key_pem,
        tls_server_name=access.tls_server_name,
        retries=retries,
        connections=connections,
    )
