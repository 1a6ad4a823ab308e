package com.defenderbridge.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code defender-bridge demo} per test JVM, on a free loopback port, stopped when the JVM
 * exits. {@code DEFENDER_BRIDGE_ADDR} (host:port) points the tests at a running server instead;
 * {@code DEFENDER_BRIDGE_BIN} names the binary (default {@code <repo>/target/debug/defender-bridge}).
 *
 * <p>{@link #tls()} is a second one, {@code demo --tls --tls-dir DIR} (TLS, client certificates
 * required, an API key), unless {@code DEFENDER_BRIDGE_TLS_ADDR} (host:port) and {@code
 * DEFENDER_BRIDGE_TLS_DIR} (the --tls-dir of a running {@code demo --tls}) are both set.
 */
final class DemoServer {
  private static final String READY_LINE = "Press Ctrl-C to stop.";
  private static final Pattern LISTEN = Pattern.compile("gRPC service:\\s+(\\S+)");
  private static final Pattern MACHINE = Pattern.compile("\"machine_id\":\\s*\"([0-9a-fA-F]{40})\"");
  private static DemoServer instance;
  private static DemoServer tlsInstance;

  /** host:port of the server under test. */
  final String address;
  /** A fleet machine named in the banner, or null. */
  final String sampleMachineId;
  /** For {@link #tls()}: the folder of ca.pem, client.pem, client.key, api-key, ...; else null. */
  final Path files;

  private DemoServer(String address, String sampleMachineId, Path files) {
    this.address = address;
    this.sampleMachineId = sampleMachineId;
    this.files = files;
  }

  static synchronized DemoServer get() throws Exception {
    if (instance == null) {
      String address = System.getenv("DEFENDER_BRIDGE_ADDR");
      if (address != null && !address.isEmpty()) {
        instance = new DemoServer(address, System.getenv("DEFENDER_BRIDGE_MACHINE_ID"), null);
      } else {
        instance = start(null);
      }
    }
    return instance;
  }

  static synchronized DemoServer tls() throws Exception {
    if (tlsInstance == null) {
      String address = System.getenv("DEFENDER_BRIDGE_TLS_ADDR");
      String files = System.getenv("DEFENDER_BRIDGE_TLS_DIR");
      if (address != null && !address.isEmpty() && files != null && !files.isEmpty()) {
        tlsInstance = new DemoServer(address, System.getenv("DEFENDER_BRIDGE_MACHINE_ID"), Path.of(files));
      } else {
        tlsInstance = start(Files.createTempDirectory("defender-bridge-java-tls-"));
      }
    }
    return tlsInstance;
  }

  /** Starts a demo; with {@code tlsDir}, {@code demo --tls --tls-dir tlsDir}. */
  private static DemoServer start(Path tlsDir) throws Exception {
    String binary = System.getenv("DEFENDER_BRIDGE_BIN");
    if (binary == null || binary.isEmpty()) {
      // Surefire runs in clients/java.
      binary = Path.of("..", "..", "target", "debug", "defender-bridge").toAbsolutePath().normalize().toString();
    }
    Exception last = null;
    // A free port can be taken between the probe and the bind: try a few.
    for (int attempt = 0; attempt < 3; attempt++) {
      try {
        return startOnce(binary, tlsDir);
      } catch (IOException | TimeoutException e) {
        last = e;
      }
    }
    throw last;
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  private static DemoServer startOnce(String binary, Path tlsDir) throws Exception {
    Path log = Files.createTempFile("defender-bridge-demo", ".log");
    List<String> command =
        new ArrayList<>(List.of(binary, "demo", "--listen", "127.0.0.1:" + freePort(), "--machines", "300"));
    if (tlsDir != null) {
      command.addAll(List.of("--tls", "--tls-dir", tlsDir.toString()));
    }
    Process process = new ProcessBuilder(command).redirectError(log.toFile()).start();
    CompletableFuture<String> banner = new CompletableFuture<>();
    Thread reader =
        new Thread(
            () -> {
              StringBuilder text = new StringBuilder();
              try (BufferedReader lines =
                  new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                  text.append(line).append('\n');
                  if (line.contains(READY_LINE)) {
                    banner.complete(text.toString());
                  }
                }
              } catch (IOException ignored) {
                // The process went away; the wait below reports it.
              }
              banner.completeExceptionally(new IOException("demo exited before it was ready:\n" + text));
            });
    reader.setDaemon(true);
    reader.start();
    String text;
    try {
      text = banner.get(60, TimeUnit.SECONDS);
    } catch (Exception e) {
      process.destroyForcibly();
      throw new IOException("defender-bridge demo did not start:\n" + Files.readString(log), e);
    }
    Matcher listen = LISTEN.matcher(text);
    if (!listen.find()) {
      process.destroyForcibly();
      throw new IOException("no address in the demo banner:\n" + text);
    }
    Matcher machine = MACHINE.matcher(text);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  process.destroy(); // SIGTERM: the demo drains and exits
                  try {
                    if (!process.waitFor(10, TimeUnit.SECONDS)) {
                      process.destroyForcibly();
                    }
                  } catch (InterruptedException e) {
                    process.destroyForcibly();
                  }
                  if (tlsDir != null) {
                    // The demo removed its files; the folder is ours.
                    tlsDir.toFile().delete();
                  }
                }));
    return new DemoServer(listen.group(1), machine.find() ? machine.group(1) : null, tlsDir);
  }
}
