package com.defenderbridge.client;

import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.CompositeChannelCredentials;
import io.grpc.Metadata;
import io.grpc.SecurityLevel;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Executor;

/**
 * Credentials for a defender-bridge server that serves TLS, requires client certificates (mTLS)
 * or callers with an API key or JWT. Pass the result to {@code Grpc.newChannelBuilder(target,
 * credentials)}:
 *
 * <pre>{@code
 * ChannelCredentials credentials = DefenderBridgeCredentials.tls(
 *     Path.of("ca.pem"), Path.of("client.pem"), Path.of("client.key"), apiKey);
 * ManagedChannel channel = Grpc.newChannelBuilder("bridge.example:50051", credentials).build();
 * }</pre>
 *
 * <p>Files are read once, when the credentials are made: after a certificate rotation, make new
 * credentials and a new channel.
 */
public final class DefenderBridgeCredentials {
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private DefenderBridgeCredentials() {}

  /**
   * TLS channel credentials ({@link TlsChannelCredentials}).
   *
   * @param rootCa the CA bundle (PEM) that signed the server's certificate, or null for the
   *     JVM's trusted roots
   * @param certificateChain the client certificate (PEM, leaf first) for mTLS, or null for none
   * @param privateKey the client certificate's private key (PEM, PKCS#8), or null for none; give
   *     both or neither
   * @throws IOException when a file cannot be read or holds no usable PEM
   */
  public static ChannelCredentials tls(Path rootCa, Path certificateChain, Path privateKey)
      throws IOException {
    if ((certificateChain == null) != (privateKey == null)) {
      throw new IllegalArgumentException("a client certificate needs both certificateChain and privateKey");
    }
    TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
    if (rootCa != null) {
      builder.trustManager(rootCa.toFile());
    }
    if (certificateChain != null) {
      builder.keyManager(certificateChain.toFile(), privateKey.toFile());
    }
    return builder.build();
  }

  /**
   * TLS channel credentials as {@link #tls(Path, Path, Path)}, plus {@code token} sent on every
   * call of the channel as {@code authorization: Bearer <token>} ({@link #bearerToken}).
   */
  public static ChannelCredentials tls(Path rootCa, Path certificateChain, Path privateKey, String token)
      throws IOException {
    return CompositeChannelCredentials.create(tls(rootCa, certificateChain, privateKey), bearerToken(token));
  }

  /**
   * Call credentials that send an API key or a JWT as {@code authorization: Bearer <token>}:
   * for every call of a channel (with {@link CompositeChannelCredentials}) or for one stub
   * ({@code stub.withCallCredentials(...)}). Only over TLS: on a plaintext channel the call fails
   * with UNAUTHENTICATED before anything is sent. Its {@code toString} never shows the token.
   */
  public static CallCredentials bearerToken(String token) {
    if (token == null || token.isEmpty()) {
      throw new IllegalArgumentException("empty bearer token");
    }
    return new BearerToken(token);
  }

  private static final class BearerToken extends CallCredentials {
    private final String token;

    BearerToken(String token) {
      this.token = token;
    }

    @Override
    public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
      if (info.getSecurityLevel() != SecurityLevel.PRIVACY_AND_INTEGRITY) {
        applier.fail(Status.UNAUTHENTICATED.withDescription("a bearer token is sent only over TLS"));
        return;
      }
      Metadata headers = new Metadata();
      headers.put(AUTHORIZATION, "Bearer " + token);
      applier.apply(headers);
    }

    @Override
    public String toString() {
      return "BearerToken(redacted)";
    }
  }
}
