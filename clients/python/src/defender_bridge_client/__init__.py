"""Python client for defender-bridge.

The generated code lives in ``defenderbridge.v1`` (the proto package, like ``google.rpc`` in
googleapis-common-protos): messages in ``*_pb2``, stubs in ``*_pb2_grpc``, types in ``.pyi``.
This package adds what every caller would otherwise rewrite: opening a channel (plaintext, or TLS
with a client certificate and a bearer token) and reading the ``google.rpc`` details of a failed
call.
"""

from defender_bridge_client.client import Client, connect, tls_credentials
from defender_bridge_client.errors import ErrorDetails, error_details

__all__ = ["Client", "ErrorDetails", "connect", "error_details", "tls_credentials"]
