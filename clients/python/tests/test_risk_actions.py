"""GetEndpointRisk, StreamFleetRisk and the action RPCs against a live server.

The assertions follow the documented contract (proto comments, docs/risk-model.md,
docs/errors.md).
"""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import duration_pb2

from conftest import Demo
from defender_bridge_client import Client, error_details
from defenderbridge.v1 import action_service_pb2, resources_pb2, risk_service_pb2

TERMINAL = {
    resources_pb2.MACHINE_ACTION_STATUS_SUCCEEDED,
    resources_pb2.MACHINE_ACTION_STATUS_FAILED,
    resources_pb2.MACHINE_ACTION_STATUS_TIMEOUT,
    resources_pb2.MACHINE_ACTION_STATUS_CANCELLED,
}


@pytest.fixture()
def machine_id(demo: Demo, client: Client) -> str:
    """A machine of the fleet: from the demo's banner, else the first one the fleet stream sends."""
    if demo.sample_machine_id:
        return demo.sample_machine_id
    stream = client.risk.StreamFleetRisk(
        risk_service_pb2.StreamFleetRiskRequest(max_machines=1), timeout=60
    )
    for message in stream:
        if message.HasField("risk"):
            return message.risk.machine.id
    pytest.fail("the fleet stream sent no machine")


def test_get_endpoint_risk_of_a_fleet_machine(client: Client, machine_id: str) -> None:
    risk = client.risk.GetEndpointRisk(
        risk_service_pb2.GetEndpointRiskRequest(machine_id=machine_id), timeout=30
    )
    assert risk.machine.id.lower() == machine_id.lower()
    assert risk.risk_level != resources_pb2.RISK_LEVEL_UNSPECIFIED
    # The combined level is the highest of its three parts.
    assert risk.risk_level >= max(
        risk.defender_risk_score, risk.exposure_risk_level, risk.alert_risk_level
    )
    assert risk.HasField("evaluated_at")
    assert risk.links.overview_url
    assert risk.reasons


def test_get_endpoint_risk_rejects_a_malformed_machine_id(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        client.risk.GetEndpointRisk(
            risk_service_pb2.GetEndpointRiskRequest(machine_id="not-a-machine-id"), timeout=10
        )
    details = error_details(raised.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.reason == "INVALID_FIELD"
    assert details.bad_request is not None
    assert "machine_id" in [v.field for v in details.bad_request.field_violations]


def test_get_endpoint_risk_of_an_unknown_machine_is_not_found(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        client.risk.GetEndpointRisk(
            risk_service_pb2.GetEndpointRiskRequest(machine_id="0" * 40), timeout=30
        )
    details = error_details(raised.value)
    assert details.code == grpc.StatusCode.NOT_FOUND
    assert details.reason == "NOT_FOUND"
    assert details.resource_info is not None


def test_stream_fleet_risk_sends_each_machine_once_then_a_summary(client: Client) -> None:
    machine_ids: list[str] = []
    summaries: list[risk_service_pb2.FleetSummary] = []
    for message in client.risk.StreamFleetRisk(risk_service_pb2.StreamFleetRiskRequest(), timeout=120):
        if message.HasField("risk"):
            assert not summaries, "a risk came after the summary"
            machine_ids.append(message.risk.machine.id)
        else:
            summaries.append(message.summary)
    assert len(summaries) == 1, "the stream must end with exactly one summary"
    summary = summaries[0]
    assert machine_ids, "the demo fleet is not empty"
    assert len(set(machine_ids)) == len(machine_ids), "a machine was sent twice"
    assert summary.machine_count == len(machine_ids)
    assert summary.complete, summary.reason_incomplete


def test_stream_fleet_risk_stopped_by_max_machines_is_incomplete(client: Client) -> None:
    messages = list(
        client.risk.StreamFleetRisk(risk_service_pb2.StreamFleetRiskRequest(max_machines=5), timeout=60)
    )
    risks = [m.risk for m in messages if m.HasField("risk")]
    assert len(risks) == 5
    assert messages[-1].HasField("summary")
    assert messages[-1].summary.machine_count == 5
    assert not messages[-1].summary.complete
    assert messages[-1].summary.reason_incomplete


def _watch_to_terminal(
    client: Client, action_id: str
) -> list[resources_pb2.MachineActionStatus.ValueType]:
    statuses: list[resources_pb2.MachineActionStatus.ValueType] = []
    request = action_service_pb2.WatchMachineActionRequest(
        action_id=action_id, poll_interval=duration_pb2.Duration(seconds=2)
    )
    for action in client.actions.WatchMachineAction(request, timeout=180):
        assert action.id == action_id
        statuses.append(action.status)
    return statuses


def test_isolate_with_request_id_is_idempotent_and_watch_ends_terminal(
    client: Client, machine_id: str
) -> None:
    request = action_service_pb2.IsolateMachineRequest(
        machine_id=machine_id,
        comment="client test: isolate",
        isolation_type=action_service_pb2.ISOLATION_TYPE_SELECTIVE,
        request_id=str(uuid.uuid4()),
    )
    first = client.actions.IsolateMachine(request, timeout=30)
    retried = client.actions.IsolateMachine(request, timeout=30)
    assert first.id and retried.id == first.id, "a retry with the same request_id acted twice"
    assert first.type == resources_pb2.MACHINE_ACTION_TYPE_ISOLATE

    statuses = _watch_to_terminal(client, first.id)
    assert statuses, "the watch sent nothing"
    assert statuses[-1] == resources_pb2.MACHINE_ACTION_STATUS_SUCCEEDED, statuses
    assert all(status not in TERMINAL for status in statuses[:-1]), statuses
    # Each message is a change: no status repeats back to back.
    assert all(a != b for a, b in zip(statuses, statuses[1:])), statuses

    release = client.actions.ReleaseMachine(
        action_service_pb2.ReleaseMachineRequest(
            machine_id=machine_id, comment="client test: release", request_id=str(uuid.uuid4())
        ),
        timeout=30,
    )
    assert _watch_to_terminal(client, release.id)[-1] == resources_pb2.MACHINE_ACTION_STATUS_SUCCEEDED


def test_isolate_without_comment_is_invalid_field(client: Client, machine_id: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        client.actions.IsolateMachine(
            action_service_pb2.IsolateMachineRequest(machine_id=machine_id, comment="  "), timeout=10
        )
    details = error_details(raised.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.reason == "INVALID_FIELD"
    assert details.bad_request is not None
    assert "comment" in [v.field for v in details.bad_request.field_violations]
