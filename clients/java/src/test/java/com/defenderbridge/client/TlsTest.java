package com.defenderbridge.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.defenderbridge.v1.ActionServiceGrpc;
import com.defenderbridge.v1.CheckConnectionRequest;
import com.defenderbridge.v1.CheckConnectionResponse;
import com.defenderbridge.v1.IsolateMachineRequest;
import com.defenderbridge.v1.MachineAction;
import com.defenderbridge.v1.RiskServiceGrpc;
import com.defenderbridge.v1.RunAntivirusScanRequest;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Java client against a live {@code demo --tls}: TLS with the demo's CA, client certificates
 * (mTLS) and an API key, over real handshakes. The server stamps the verified caller into the
 * comment of every machine action, so an action's requestor_comment shows which credential was
 * used.
 */
class TlsTest {
  private static final String CERT_IDENTITY = "cert:spiffe://defender-bridge.demo/client";
  private static final List<ManagedChannel> channels = new ArrayList<>();
  private static DemoServer demo;

  @BeforeAll
  static void start() throws Exception {
    demo = DemoServer.tls();
  }

  @AfterAll
  static void close() {
    channels.forEach(ManagedChannel::shutdownNow);
  }

  private static Path file(String name) {
    return demo.files.resolve(name);
  }

  private static String apiKey() throws Exception {
    return Files.readString(file("api-key")).trim();
  }

  private static ManagedChannel channel(ChannelCredentials credentials) {
    ManagedChannel channel = Grpc.newChannelBuilder(demo.address, credentials).build();
    channels.add(channel);
    return channel;
  }

  private static String machine() {
    assertTrue(demo.sampleMachineId != null, "the demo banner named no machine (set DEFENDER_BRIDGE_MACHINE_ID)");
    return demo.sampleMachineId;
  }

  private static StatusRuntimeException checkConnectionFails(ManagedChannel channel) {
    return assertThrows(
        StatusRuntimeException.class,
        () ->
            RiskServiceGrpc.newBlockingStub(channel)
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .checkConnection(CheckConnectionRequest.getDefaultInstance()));
  }

  @Test
  void mtlsWithTheClientCertificateActsAsItsIdentity() throws Exception {
    ManagedChannel channel =
        channel(DefenderBridgeCredentials.tls(file("ca.pem"), file("client.pem"), file("client.key")));
    HealthCheckResponse health =
        HealthGrpc.newBlockingStub(channel)
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .check(HealthCheckRequest.getDefaultInstance());
    assertEquals(HealthCheckResponse.ServingStatus.SERVING, health.getStatus());
    MachineAction action =
        ActionServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(30, TimeUnit.SECONDS)
            .isolateMachine(
                IsolateMachineRequest.newBuilder()
                    .setMachineId(machine())
                    .setComment("java mTLS test")
                    .setRequestId(UUID.randomUUID().toString())
                    .build());
    assertTrue(
        action.getRequestorComment().contains("caller=" + CERT_IDENTITY + " "), action::getRequestorComment);
  }

  @Test
  void anApiKeyIsSentAsABearerTokenOnEveryCall() throws Exception {
    ManagedChannel channel =
        channel(DefenderBridgeCredentials.tls(file("ca.pem"), file("client.pem"), file("client.key"), apiKey()));
    CheckConnectionResponse ready =
        RiskServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(30, TimeUnit.SECONDS)
            .checkConnection(CheckConnectionRequest.getDefaultInstance());
    assertTrue(ready.getReady(), ready::toString);
    MachineAction action =
        ActionServiceGrpc.newBlockingStub(channel)
            .withDeadlineAfter(30, TimeUnit.SECONDS)
            .runAntivirusScan(
                RunAntivirusScanRequest.newBuilder()
                    .setMachineId(machine())
                    .setComment("java API key test")
                    .setRequestId(UUID.randomUUID().toString())
                    .build());
    // The key, not the certificate the connection also presents, names the caller.
    assertTrue(action.getRequestorComment().contains("caller=key:demo "), action::getRequestorComment);
  }

  @Test
  void anUnknownApiKeyIsUnauthenticated() throws Exception {
    ManagedChannel channel =
        channel(
            DefenderBridgeCredentials.tls(
                file("ca.pem"), file("client.pem"), file("client.key"), "demo_not-the-key"));
    ErrorDetails details = ErrorDetails.from(checkConnectionFails(channel));
    assertEquals(Status.Code.UNAUTHENTICATED, details.code());
    assertEquals("CALLER_NOT_AUTHENTICATED", details.reason());
  }

  @Test
  void withoutAClientCertificateTheHandshakeFails() throws Exception {
    // A valid key does not replace the client certificate mTLS requires.
    ManagedChannel channel = channel(DefenderBridgeCredentials.tls(file("ca.pem"), null, null, apiKey()));
    assertEquals(Status.Code.UNAVAILABLE, checkConnectionFails(channel).getStatus().getCode());
  }

  @Test
  void theServerCertificateMustChainToTheGivenRoots() throws Exception {
    // The client's own certificate is not a CA: the server's certificate does not verify.
    ManagedChannel channel =
        channel(DefenderBridgeCredentials.tls(file("client.pem"), file("client.pem"), file("client.key")));
    assertEquals(Status.Code.UNAVAILABLE, checkConnectionFails(channel).getStatus().getCode());
  }

  @Test
  void aBearerTokenIsNeverSentInPlaintext() throws Exception {
    // On a plaintext channel (to the plaintext demo) the call fails in the client, before it is
    // sent.
    ManagedChannel plain = Grpc.newChannelBuilder(DemoServer.get().address, InsecureChannelCredentials.create()).build();
    channels.add(plain);
    StatusRuntimeException thrown =
        assertThrows(
            StatusRuntimeException.class,
            () ->
                RiskServiceGrpc.newBlockingStub(plain)
                    .withCallCredentials(DefenderBridgeCredentials.bearerToken("secret"))
                    .withDeadlineAfter(10, TimeUnit.SECONDS)
                    .checkConnection(CheckConnectionRequest.getDefaultInstance()));
    assertEquals(Status.Code.UNAUTHENTICATED, thrown.getStatus().getCode());
    assertTrue(thrown.getStatus().getDescription().contains("only over TLS"), thrown::toString);
    assertFalse(DefenderBridgeCredentials.bearerToken("secret").toString().contains("secret"));
  }

  @Test
  void halfAClientCertificateIsRefused() {
    assertThrows(IllegalArgumentException.class, () -> DefenderBridgeCredentials.tls(null, file("client.pem"), null));
  }
}
