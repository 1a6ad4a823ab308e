"""A channel and both service stubs in one object, since most callers need both."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Union

import grpc

from defenderbridge.v1 import action_service_pb2_grpc, risk_service_pb2_grpc

#: A PEM given as its bytes, or as the path of the file holding it.
Pem = Union[bytes, str, "os.PathLike[str]"]


@dataclass
class Client:
    """Stubs of both services on one channel. Close it (or use ``with``) when done."""

    channel: grpc.Channel
    risk: risk_service_pb2_grpc.RiskServiceStub
    actions: action_service_pb2_grpc.ActionServiceStub

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self.channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _read_pem(pem: Pem | None) -> bytes | None:
    if pem is None or isinstance(pem, bytes):
        return pem
    with open(pem, "rb") as file:
        return file.read()


def tls_credentials(
    root_certificates: Pem | None = None,
    certificate_chain: Pem | None = None,
    private_key: Pem | None = None,
    token: str | None = None,
) -> grpc.ChannelCredentials:
    """TLS channel credentials, optionally with a client certificate and a bearer token.

    - ``root_certificates``: the CA bundle (PEM) that signed the server's certificate; ``None``
      uses the system's trusted roots.
    - ``certificate_chain`` and ``private_key``: the client certificate (PEM, leaf first) and its
      key, for a server that requires client certificates (mTLS). Give both or neither.
    - ``token``: an API key or a JWT, sent on every call as ``authorization: Bearer <token>``
      (gRPC call credentials, which grpcio sends only over TLS).

    Each PEM is its bytes or the path of the file holding it. Files are read once, now: after
    a rotation, open a new channel.
    """
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("a client certificate needs both certificate_chain and private_key")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read_pem(root_certificates),
        private_key=_read_pem(private_key),
        certificate_chain=_read_pem(certificate_chain),
    )
    if token is not None:
        if not token:
            raise ValueError("token is empty")
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token)
        )
    return credentials


def connect(
    address: str,
    credentials: grpc.ChannelCredentials | None = None,
    options: list[tuple[str, object]] | None = None,
    *,
    tls: bool = False,
    root_certificates: Pem | None = None,
    certificate_chain: Pem | None = None,
    private_key: Pem | None = None,
    token: str | None = None,
) -> Client:
    """Opens a channel to ``address`` (``host:port``): plaintext unless TLS is asked for.

    The server binds loopback in plaintext by default; anything else needs TLS. Ask for it with
    ``tls=True`` (the system's trusted roots) or by giving any of ``root_certificates`` (CA
    PEM), ``certificate_chain`` + ``private_key`` (client certificate for mTLS) or ``token`` (an
    API key or JWT sent as ``authorization: Bearer <token>`` on every call); see
    :func:`tls_credentials`, which builds the credentials from them. Alternatively pass ready
    ``credentials`` (e.g. ``grpc.ssl_channel_credentials(...)``), but not both.

    The token is only ever sent over TLS: a plaintext channel with a token is refused. The
    channel connects lazily, on the first call, so a bad certificate or an unreachable server
    shows as ``UNAVAILABLE`` on the first call.
    """
    wants_tls = tls or any(
        value is not None for value in (root_certificates, certificate_chain, private_key, token)
    )
    if wants_tls:
        if credentials is not None:
            raise ValueError("pass either credentials or the TLS/token arguments, not both")
        credentials = tls_credentials(root_certificates, certificate_chain, private_key, token)
    if credentials is None:
        channel = grpc.insecure_channel(address, options=options)
    else:
        channel = grpc.secure_channel(address, credentials, options=options)
    return Client(
        channel=channel,
        risk=risk_service_pb2_grpc.RiskServiceStub(channel),
        actions=action_service_pb2_grpc.ActionServiceStub(channel),
    )
