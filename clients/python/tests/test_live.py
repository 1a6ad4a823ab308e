"""The client against a live server: health, CheckConnection, and a failing call's details."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped]  # ships no stubs
from grpc_health.v1 import health_pb2, health_pb2_grpc

from defender_bridge_client import Client, error_details
from defenderbridge.v1 import risk_service_pb2


def test_health_reports_serving_overall_and_per_service(client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    for service in ("", "defenderbridge.v1.RiskService", "defenderbridge.v1.ActionService"):
        response = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert response.status == health_pb2.HealthCheckResponse.SERVING, service


def test_check_connection_is_ready_with_machine_read_permission(client: Client) -> None:
    response = client.risk.CheckConnection(risk_service_pb2.CheckConnectionRequest(), timeout=30)
    assert response.ready, response
    assert response.token.ok
    assert "Machine.Read.All" in response.granted_permissions
    assert response.probe.attempted and response.probe.ok


def test_unknown_tenant_fails_with_invalid_field_and_bad_request(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        client.risk.CheckConnection(
            risk_service_pb2.CheckConnectionRequest(tenant="other-tenant"), timeout=10
        )
    details = error_details(raised.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.error_info is not None, "no google.rpc.ErrorInfo in the status details"
    assert details.error_info.domain == "defenderbridge"
    assert details.reason == "INVALID_FIELD"
    assert details.bad_request is not None, "no google.rpc.BadRequest in the status details"
    fields = [violation.field for violation in details.bad_request.field_violations]
    assert "tenant" in fields
    assert isinstance(details.bad_request, error_details_pb2.BadRequest)


def test_deadline_ends_an_endless_stream_with_deadline_exceeded(client: Client) -> None:
    # Health/Watch sends the current status, then waits for changes that never come: only the
    # caller's deadline ends it. (A tiny deadline on a fast unary call is a race, not a test.)
    health = health_pb2_grpc.HealthStub(client.channel)
    received = []
    with pytest.raises(grpc.RpcError) as raised:
        for response in health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=0.5):
            received.append(response.status)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert received == [health_pb2.HealthCheckResponse.SERVING]
