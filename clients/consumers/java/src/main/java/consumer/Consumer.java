package consumer;

import com.defenderbridge.client.ErrorDetails;
import com.defenderbridge.v1.CheckConnectionRequest;
import com.defenderbridge.v1.CheckConnectionResponse;
import com.defenderbridge.v1.RiskServiceGrpc;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.TimeUnit;

/** Calls a live server (args[0] = host:port) through the installed client: exit 1 on surprise. */
public final class Consumer {
  private Consumer() {}

  public static void main(String[] args) throws InterruptedException {
    ManagedChannel channel =
        Grpc.newChannelBuilder(args[0], InsecureChannelCredentials.create()).build();
    try {
      RiskServiceGrpc.RiskServiceBlockingStub risk = RiskServiceGrpc.newBlockingStub(channel);
      CheckConnectionResponse connection =
          risk.withDeadlineAfter(30, TimeUnit.SECONDS)
              .checkConnection(CheckConnectionRequest.getDefaultInstance());
      if (!connection.getReady()) {
        fail("CheckConnection not ready: " + connection);
      }
      try {
        risk.withDeadlineAfter(10, TimeUnit.SECONDS)
            .checkConnection(CheckConnectionRequest.newBuilder().setTenant("other-tenant").build());
        fail("CheckConnection(other-tenant) succeeded");
      } catch (StatusRuntimeException e) {
        ErrorDetails details = ErrorDetails.from(e);
        if (details.code() != Status.Code.INVALID_ARGUMENT || details.reason().isEmpty()) {
          fail("unexpected error " + details.code() + " reason '" + details.reason() + "'");
        }
        System.out.println(
            "java consumer: CheckConnection ready, error " + details.code() + " " + details.reason());
      }
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static void fail(String message) {
    System.err.println("java consumer: " + message);
    System.exit(1);
  }
}
