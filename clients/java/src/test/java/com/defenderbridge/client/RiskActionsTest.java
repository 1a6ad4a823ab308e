package com.defenderbridge.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.defenderbridge.v1.ActionServiceGrpc;
import com.defenderbridge.v1.EndpointRisk;
import com.defenderbridge.v1.FleetSummary;
import com.defenderbridge.v1.GetEndpointRiskRequest;
import com.defenderbridge.v1.IsolateMachineRequest;
import com.defenderbridge.v1.IsolationType;
import com.defenderbridge.v1.MachineAction;
import com.defenderbridge.v1.MachineActionStatus;
import com.defenderbridge.v1.MachineActionType;
import com.defenderbridge.v1.ReleaseMachineRequest;
import com.defenderbridge.v1.RiskLevel;
import com.defenderbridge.v1.RiskServiceGrpc;
import com.defenderbridge.v1.StreamFleetRiskRequest;
import com.defenderbridge.v1.StreamFleetRiskResponse;
import com.defenderbridge.v1.WatchMachineActionRequest;
import com.google.protobuf.Duration;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * GetEndpointRisk, StreamFleetRisk and the action RPCs against a live server. The assertions
 * follow the documented contract (proto comments, docs/risk-model.md, docs/errors.md).
 */
class RiskActionsTest {
  private static ManagedChannel channel;
  private static RiskServiceGrpc.RiskServiceBlockingStub risk;
  private static ActionServiceGrpc.ActionServiceBlockingStub actions;

  @BeforeAll
  static void connect() throws Exception {
    channel = Grpc.newChannelBuilder(DemoServer.get().address, InsecureChannelCredentials.create()).build();
    risk = RiskServiceGrpc.newBlockingStub(channel);
    actions = ActionServiceGrpc.newBlockingStub(channel);
  }

  @AfterAll
  static void close() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  /** A fleet machine: the banner's, else the first one the fleet stream sends. */
  private static String fleetMachineId() throws Exception {
    String id = DemoServer.get().sampleMachineId;
    if (id != null) {
      return id;
    }
    Iterator<StreamFleetRiskResponse> stream =
        risk.withDeadlineAfter(60, TimeUnit.SECONDS)
            .streamFleetRisk(StreamFleetRiskRequest.newBuilder().setMaxMachines(1).build());
    while (stream.hasNext()) {
      StreamFleetRiskResponse message = stream.next();
      if (message.hasRisk()) {
        return message.getRisk().getMachine().getId();
      }
    }
    throw new AssertionError("the fleet stream sent no machine");
  }

  @Test
  void getEndpointRiskOfAFleetMachine() throws Exception {
    String machineId = fleetMachineId();
    EndpointRisk got =
        risk.withDeadlineAfter(30, TimeUnit.SECONDS)
            .getEndpointRisk(GetEndpointRiskRequest.newBuilder().setMachineId(machineId).build());
    assertTrue(got.getMachine().getId().equalsIgnoreCase(machineId));
    assertNotEquals(RiskLevel.RISK_LEVEL_UNSPECIFIED, got.getRiskLevel());
    int highest =
        Math.max(
            got.getDefenderRiskScoreValue(),
            Math.max(got.getExposureRiskLevelValue(), got.getAlertRiskLevelValue()));
    assertTrue(got.getRiskLevelValue() >= highest, got::toString);
    assertTrue(got.hasEvaluatedAt());
    assertFalse(got.getLinks().getOverviewUrl().isEmpty());
  }

  @Test
  void getEndpointRiskRejectsAMalformedMachineId() {
    StatusRuntimeException thrown =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                risk.withDeadlineAfter(10, TimeUnit.SECONDS)
                    .getEndpointRisk(GetEndpointRiskRequest.newBuilder().setMachineId("not-a-machine-id").build()));
    ErrorDetails details = ErrorDetails.from(thrown);
    assertEquals(Status.Code.INVALID_ARGUMENT, details.code());
    assertEquals("INVALID_FIELD", details.reason());
    assertTrue(
        details.badRequest().orElseThrow().getFieldViolationsList().stream()
            .anyMatch(v -> v.getField().equals("machine_id")));
  }

  @Test
  void getEndpointRiskOfAnUnknownMachineIsNotFound() {
    StatusRuntimeException thrown =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                risk.withDeadlineAfter(30, TimeUnit.SECONDS)
                    .getEndpointRisk(GetEndpointRiskRequest.newBuilder().setMachineId("0".repeat(40)).build()));
    ErrorDetails details = ErrorDetails.from(thrown);
    assertEquals(Status.Code.NOT_FOUND, details.code());
    assertEquals("NOT_FOUND", details.reason());
    assertTrue(details.resourceInfo().isPresent());
  }

  @Test
  void streamFleetRiskSendsEachMachineOnceThenASummary() {
    Set<String> seen = new HashSet<>();
    List<FleetSummary> summaries = new ArrayList<>();
    Iterator<StreamFleetRiskResponse> stream =
        risk.withDeadlineAfter(120, TimeUnit.SECONDS).streamFleetRisk(StreamFleetRiskRequest.getDefaultInstance());
    while (stream.hasNext()) {
      StreamFleetRiskResponse message = stream.next();
      if (message.hasRisk()) {
        assertTrue(summaries.isEmpty(), "a risk came after the summary");
        assertTrue(seen.add(message.getRisk().getMachine().getId()), "a machine was sent twice");
      } else {
        summaries.add(message.getSummary());
      }
    }
    assertEquals(1, summaries.size());
    assertFalse(seen.isEmpty());
    assertEquals(seen.size(), summaries.get(0).getMachineCount());
    assertTrue(summaries.get(0).getComplete(), summaries.get(0).getReasonIncomplete());
  }

  private static List<MachineActionStatus> watchToTerminal(String actionId) {
    List<MachineActionStatus> statuses = new ArrayList<>();
    Iterator<MachineAction> stream =
        actions
            .withDeadlineAfter(180, TimeUnit.SECONDS)
            .watchMachineAction(
                WatchMachineActionRequest.newBuilder()
                    .setActionId(actionId)
                    .setPollInterval(Duration.newBuilder().setSeconds(2))
                    .build());
    while (stream.hasNext()) {
      MachineAction action = stream.next();
      assertEquals(actionId, action.getId());
      statuses.add(action.getStatus());
    }
    return statuses;
  }

  @Test
  void isolateWithRequestIdIsIdempotentAndWatchEndsSucceeded() throws Exception {
    String machineId = fleetMachineId();
    IsolateMachineRequest request =
        IsolateMachineRequest.newBuilder()
            .setMachineId(machineId)
            .setComment("client test: isolate")
            .setIsolationType(IsolationType.ISOLATION_TYPE_SELECTIVE)
            .setRequestId(UUID.randomUUID().toString())
            .build();
    MachineAction first = actions.withDeadlineAfter(30, TimeUnit.SECONDS).isolateMachine(request);
    MachineAction retried = actions.withDeadlineAfter(30, TimeUnit.SECONDS).isolateMachine(request);
    assertFalse(first.getId().isEmpty());
    assertEquals(first.getId(), retried.getId(), "a retry with the same request_id acted twice");
    assertEquals(MachineActionType.MACHINE_ACTION_TYPE_ISOLATE, first.getType());

    List<MachineActionStatus> statuses = watchToTerminal(first.getId());
    assertEquals(MachineActionStatus.MACHINE_ACTION_STATUS_SUCCEEDED, statuses.get(statuses.size() - 1), statuses::toString);
    for (int i = 1; i < statuses.size(); i++) {
      assertNotEquals(statuses.get(i - 1), statuses.get(i), statuses::toString);
    }

    MachineAction release =
        actions
            .withDeadlineAfter(30, TimeUnit.SECONDS)
            .releaseMachine(
                ReleaseMachineRequest.newBuilder()
                    .setMachineId(machineId)
                    .setComment("client test: release")
                    .setRequestId(UUID.randomUUID().toString())
                    .build());
    List<MachineActionStatus> released = watchToTerminal(release.getId());
    assertEquals(MachineActionStatus.MACHINE_ACTION_STATUS_SUCCEEDED, released.get(released.size() - 1));
  }
}
