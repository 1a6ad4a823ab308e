package com.defenderbridge.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.defenderbridge.v1.CheckConnectionRequest;
import com.defenderbridge.v1.CheckConnectionResponse;
import com.defenderbridge.v1.RiskServiceGrpc;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Java client against a live server: health, CheckConnection and a failing call's details. */
class LiveTest {
  private static ManagedChannel channel;
  private static RiskServiceGrpc.RiskServiceBlockingStub risk;

  @BeforeAll
  static void connect() throws Exception {
    channel = Grpc.newChannelBuilder(DemoServer.get().address, InsecureChannelCredentials.create()).build();
    risk = RiskServiceGrpc.newBlockingStub(channel);
  }

  @AfterAll
  static void close() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
  }

  @Test
  void healthReportsServingOverallAndPerService() {
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);
    for (String service : List.of("", "defenderbridge.v1.RiskService", "defenderbridge.v1.ActionService")) {
      HealthCheckResponse response =
          health
              .withDeadlineAfter(10, TimeUnit.SECONDS)
              .check(HealthCheckRequest.newBuilder().setService(service).build());
      assertEquals(HealthCheckResponse.ServingStatus.SERVING, response.getStatus(), service);
    }
  }

  @Test
  void checkConnectionIsReadyWithMachineReadPermission() {
    CheckConnectionResponse response =
        risk.withDeadlineAfter(30, TimeUnit.SECONDS).checkConnection(CheckConnectionRequest.getDefaultInstance());
    assertTrue(response.getReady(), response::toString);
    assertTrue(response.getToken().getOk());
    assertTrue(
        response.getGrantedPermissionsList().contains("Machine.Read.All"),
        () -> "granted: " + response.getGrantedPermissionsList());
  }

  @Test
  void unknownTenantFailsWithInvalidFieldAndBadRequest() {
    StatusRuntimeException thrown =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                risk.withDeadlineAfter(10, TimeUnit.SECONDS)
                    .checkConnection(CheckConnectionRequest.newBuilder().setTenant("other-tenant").build()));
    ErrorDetails details = ErrorDetails.from(thrown);
    assertEquals(Status.Code.INVALID_ARGUMENT, details.code());
    assertTrue(details.errorInfo().isPresent(), "no google.rpc.ErrorInfo in the status details");
    assertEquals("defenderbridge", details.errorInfo().get().getDomain());
    assertEquals("INVALID_FIELD", details.reason());
    assertTrue(details.badRequest().isPresent(), "no google.rpc.BadRequest in the status details");
    assertTrue(
        details.badRequest().get().getFieldViolationsList().stream().anyMatch(v -> v.getField().equals("tenant")),
        () -> details.badRequest().get().toString());
  }

  /**
   * Health/Watch sends the current status, then waits for changes that never come: only the
   * caller's deadline ends it. (A tiny deadline on a fast unary call is a race, not a test.)
   */
  @Test
  void deadlineEndsAnEndlessStreamWithDeadlineExceeded() {
    Iterator<HealthCheckResponse> stream =
        HealthGrpc.newBlockingStub(channel)
            .withDeadlineAfter(500, TimeUnit.MILLISECONDS)
            .watch(HealthCheckRequest.getDefaultInstance());
    assertEquals(HealthCheckResponse.ServingStatus.SERVING, stream.next().getStatus());
    StatusRuntimeException thrown = assertThrows(StatusRuntimeException.class, stream::hasNext);
    assertEquals(Status.Code.DEADLINE_EXCEEDED, thrown.getStatus().getCode());
  }
}
