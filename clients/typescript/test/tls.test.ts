/**
 * The TypeScript client against a live `demo --tls`: TLS with the demo's CA, client certificates
 * (mTLS) and an API key, over real handshakes. The server stamps the verified caller into the
 * comment of every machine action, so an action's requestorComment shows which credential was
 * used.
 */

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";

import { connectDefenderBridge, errorDetails, health, type ConnectOptions } from "../src/index.js";
import { startTlsDemo, type TlsDemo } from "./demo.js";

const CERT_IDENTITY = "cert:spiffe://defender-bridge.demo/client";

let demo: TlsDemo;

before(async () => {
  demo = await startTlsDemo();
});

after(async () => {
  await demo?.stop();
});

function file(name: string): Buffer {
  return readFileSync(join(demo.files, name));
}

/** The demo's CA and client certificate. */
function mtls(): ConnectOptions {
  return { ca: file("ca.pem"), cert: file("client.pem"), key: file("client.key") };
}

function machine(): string {
  assert.ok(demo.sampleMachineId, "the demo banner named no machine (set DEFENDER_BRIDGE_MACHINE_ID)");
  return demo.sampleMachineId;
}

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  return ConnectError.from(
    await call.then(
      () => assert.fail("the call succeeded"),
      (err: unknown) => err,
    ),
  );
}

/** connect-node reports a failed TLS handshake as INTERNAL (Node's TLS error as the message). */
function assertHandshakeFailure(error: ConnectError, why: RegExp): void {
  assert.ok([Code.Internal, Code.Unavailable].includes(error.code), `${Code[error.code]}: ${error.message}`);
  assert.match(error.message, why);
}

test("mTLS with the client certificate acts as its identity", async () => {
  const clients = connectDefenderBridge(demo.baseUrl, mtls());
  const serving = await clients.health.check({}, { timeoutMs: 10_000 });
  assert.equal(serving.status, health.HealthCheckResponse_ServingStatus.SERVING);
  const action = await clients.actions.isolateMachine(
    { machineId: machine(), comment: "typescript mTLS test", requestId: randomUUID() },
    { timeoutMs: 30_000 },
  );
  assert.ok(action.requestorComment.includes(`caller=${CERT_IDENTITY} `), action.requestorComment);
});

test("an API key is sent as a bearer token on every call", async () => {
  const token = file("api-key").toString().trim();
  // PEMs as strings this time (the helper takes strings or bytes).
  const options = { ca: file("ca.pem").toString(), cert: file("client.pem").toString(), key: file("client.key").toString() };
  const clients = connectDefenderBridge(demo.baseUrl, { ...options, token });
  const ready = await clients.risk.checkConnection({}, { timeoutMs: 30_000 });
  assert.ok(ready.ready, JSON.stringify(ready.capabilities));
  const action = await clients.actions.runAntivirusScan(
    { machineId: machine(), comment: "typescript API key test", requestId: randomUUID() },
    { timeoutMs: 30_000 },
  );
  // The key, not the certificate the connection also presents, names the caller.
  assert.ok(action.requestorComment.includes("caller=key:demo "), action.requestorComment);
});

test("an unknown API key is UNAUTHENTICATED with CALLER_NOT_AUTHENTICATED", async () => {
  const clients = connectDefenderBridge(demo.baseUrl, { ...mtls(), token: "demo_not-the-key" });
  const details = errorDetails(await failure(clients.risk.checkConnection({}, { timeoutMs: 10_000 })));
  assert.equal(details.error.code, Code.Unauthenticated);
  assert.equal(details.reason, "CALLER_NOT_AUTHENTICATED");
});

test("without a client certificate the handshake fails", async () => {
  // A valid key does not replace the client certificate mTLS requires.
  const token = file("api-key").toString().trim();
  const clients = connectDefenderBridge(demo.baseUrl, { ca: file("ca.pem"), token });
  const error = await failure(clients.risk.checkConnection({}, { timeoutMs: 10_000 }));
  assertHandshakeFailure(error, /certificate required/);
});

test("the server certificate must chain to the given roots", async () => {
  // The client's own certificate is not a CA: the server's certificate does not verify.
  const clients = connectDefenderBridge(demo.baseUrl, { ...mtls(), ca: file("client.pem") });
  const error = await failure(clients.risk.checkConnection({}, { timeoutMs: 10_000 }));
  assertHandshakeFailure(error, /unable to verify/);
});

test("a token or TLS options are refused with an http:// URL, and half a client certificate", () => {
  assert.throws(() => connectDefenderBridge("http://127.0.0.1:1", { token: "secret" }), /https:\/\//);
  assert.throws(() => connectDefenderBridge("https://127.0.0.1:1", { cert: "x" }), /both cert and key/);
});
