"""The client against a live ``demo --tls``: TLS with the demo's CA, client certificates (mTLS)
and an API key, over real handshakes. The server stamps the verified caller into the comment of
every machine action, so an action's ``requestor_comment`` shows which credential was used."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import TlsDemo
from defender_bridge_client import connect, error_details
from defenderbridge.v1 import action_service_pb2, risk_service_pb2

CERT_IDENTITY = "cert:spiffe://defender-bridge.demo/client"


def _machine(tls_demo: TlsDemo) -> str:
    if not tls_demo.sample_machine_id:
        pytest.fail("the demo banner named no machine (set DEFENDER_BRIDGE_MACHINE_ID)")
    return tls_demo.sample_machine_id


def test_mtls_with_the_client_certificate_acts_as_its_identity(tls_demo: TlsDemo) -> None:
    files = tls_demo.files
    with connect(
        tls_demo.address,
        root_certificates=files / "ca.pem",
        certificate_chain=files / "client.pem",
        private_key=files / "client.key",
    ) as client:
        health = health_pb2_grpc.HealthStub(client.channel)
        response = health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
        action = client.actions.IsolateMachine(
            action_service_pb2.IsolateMachineRequest(
                machine_id=_machine(tls_demo),
                comment="python mTLS test",
                request_id=str(uuid.uuid4()),
            ),
            timeout=30,
        )
    assert f"caller={CERT_IDENTITY} " in action.requestor_comment, action.requestor_comment


def test_an_api_key_is_sent_as_a_bearer_token_on_every_call(tls_demo: TlsDemo) -> None:
    files = tls_demo.files
    # PEMs as bytes this time (the helper takes bytes or paths).
    with connect(
        tls_demo.address,
        root_certificates=(files / "ca.pem").read_bytes(),
        certificate_chain=(files / "client.pem").read_bytes(),
        private_key=(files / "client.key").read_bytes(),
        token=tls_demo.api_key,
    ) as client:
        ready = client.risk.CheckConnection(risk_service_pb2.CheckConnectionRequest(), timeout=30)
        assert ready.ready, ready
        action = client.actions.RunAntivirusScan(
            action_service_pb2.RunAntivirusScanRequest(
                machine_id=_machine(tls_demo),
                comment="python API key test",
                request_id=str(uuid.uuid4()),
            ),
            timeout=30,
        )
    # The key, not the certificate the connection also presents, names the caller.
    assert "caller=key:demo " in action.requestor_comment, action.requestor_comment


def test_an_unknown_api_key_is_unauthenticated(tls_demo: TlsDemo) -> None:
    files = tls_demo.files
    with connect(
        tls_demo.address,
        root_certificates=files / "ca.pem",
        certificate_chain=files / "client.pem",
        private_key=files / "client.key",
        token="demo_not-the-key",
    ) as client:
        with pytest.raises(grpc.RpcError) as raised:
            client.risk.CheckConnection(risk_service_pb2.CheckConnectionRequest(), timeout=10)
    details = error_details(raised.value)
    assert details.code == grpc.StatusCode.UNAUTHENTICATED, details
    assert details.reason == "CALLER_NOT_AUTHENTICATED"


def test_without_a_client_certificate_the_handshake_fails(tls_demo: TlsDemo) -> None:
    # A valid key does not replace the client certificate mTLS requires.
    with connect(
        tls_demo.address, root_certificates=tls_demo.files / "ca.pem", token=tls_demo.api_key
    ) as client:
        with pytest.raises(grpc.RpcError) as raised:
            client.risk.CheckConnection(risk_service_pb2.CheckConnectionRequest(), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value


def test_the_server_certificate_must_chain_to_the_given_roots(tls_demo: TlsDemo) -> None:
    # The client's own certificate is not a CA: the server's certificate does not verify.
    files = tls_demo.files
    with connect(
        tls_demo.address,
        root_certificates=files / "client.pem",
        certificate_chain=files / "client.pem",
        private_key=files / "client.key",
    ) as client:
        with pytest.raises(grpc.RpcError) as raised:
            client.risk.CheckConnection(risk_service_pb2.CheckConnectionRequest(), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, raised.value


def test_half_a_client_certificate_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="both"):
        connect("127.0.0.1:1", certificate_chain=b"-----BEGIN CERTIFICATE-----")
