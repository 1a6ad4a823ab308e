"""A consumer of the installed wheel: imports both packages and calls a live server.

Usage: python consumer.py host:port (run from outside the clone, so that only the installed
packages can be imported).
"""

from __future__ import annotations

import sys

import grpc

import defender_bridge_client
from defender_bridge_client import connect, error_details
from defenderbridge.v1 import risk_service_pb2


def main(address: str) -> None:
    if "site-packages" not in (defender_bridge_client.__file__ or ""):
        sys.exit(f"defender_bridge_client imported from {defender_bridge_client.__file__}, not the venv")
    with connect(address) as client:
        connection = client.risk.CheckConnection(risk_service_pb2.CheckConnectionRequest(), timeout=30)
        if not connection.ready:
            sys.exit(f"CheckConnection not ready: {connection}")
        try:
            client.risk.CheckConnection(
                risk_service_pb2.CheckConnectionRequest(tenant="other-tenant"), timeout=10
            )
        except grpc.RpcError as err:
            details = error_details(err)
            if details.code != grpc.StatusCode.INVALID_ARGUMENT or not details.reason:
                sys.exit(f"unexpected error {details.code} reason {details.reason!r}")
            print(f"python consumer: CheckConnection ready, error {details.code.name} {details.reason}")
        else:
            sys.exit("CheckConnection(other-tenant) succeeded")


if __name__ == "__main__":
    main(sys.argv[1])
