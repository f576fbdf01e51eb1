"""`KubeApiEmulator`: one emulated cluster API (our in-memory store) served over HTTP from a background thread."""

from __future__ import annotations

from collections.abc import Collection

from kops_local.kube.api import KubeApi
from kops_local.kube.iam_tokens import AuthenticatorTokens
from kops_local.kube.served import ServedKubeApi
from kops_local.kube.server import Backend, EmulatedBackend
from kops_local.kube.store import ObjectStore


class KubeApiEmulator(ServedKubeApi):
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Collection[str] | None = None,
        name: str = "cluster",
        tls: bool = False,
        sts_url: str | None = None,
    ) -> None:
        """`tokens`: accepted bearer tokens (None: no authentication). `tls`: serve https with a
        generated CA (`ca_certificate`); kubectl only sends tokens over https. `sts_url`: a local STS that
        verifies aws-iam-authenticator tokens (`iam_tokens`; the cluster id is `name`)."""
        super().__init__(host=host, port=port, tokens=tokens, name=name, tls=tls)
        self._store = ObjectStore()
        self._sts_url = sts_url

    @property
    def store(self) -> ObjectStore:
        return self._store

    def _backend(self) -> Backend:
        iam_tokens = (
            AuthenticatorTokens(self.store, sts_url=self._sts_url, cluster_id=self.name) if self._sts_url else None
        )
        return EmulatedBackend(
            KubeApi(self.store), tokens=self._tokens, server_address=lambda: self._address, iam_tokens=iam_tokens
        )
