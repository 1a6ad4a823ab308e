"""A channel and both service stubs in one object, since most callers need both."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from defenderbridge.v1 import action_service_pb2_grpc, risk_service_pb2_grpc


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


def connect(
    address: str,
    credentials: grpc.ChannelCredentials | None = None,
    options: list[tuple[str, object]] | None = None,
) -> Client:
    """Opens a channel to ``address`` (``host:port``): plaintext unless ``credentials`` are given.

    The server binds loopback in plaintext by default; anything else needs TLS credentials
    (``grpc.ssl_channel_credentials``). The channel connects lazily, on the first call.
    """
    if credentials is None:
        channel = grpc.insecure_channel(address, options=options)
    else:
        channel = grpc.secure_channel(address, credentials, options=options)
    return Client(
        channel=channel,
        risk=risk_service_pb2_grpc.RiskServiceStub(channel),
        actions=action_service_pb2_grpc.ActionServiceStub(channel),
    )
