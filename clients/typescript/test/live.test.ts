/** The TypeScript client against a live server: health, CheckConnection, a failing call. */

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";

import { connectDefenderBridge, errorDetails, health, type DefenderBridgeClients } from "../src/index.js";
import { startDemo, type Demo } from "./demo.js";

let demo: Demo;
let clients: DefenderBridgeClients;

before(async () => {
  demo = await startDemo();
  clients = connectDefenderBridge(demo.baseUrl);
});

after(async () => {
  await demo?.stop();
});

test("health reports SERVING overall and per service", async () => {
  for (const service of ["", "defenderbridge.v1.RiskService", "defenderbridge.v1.ActionService"]) {
    const response = await clients.health.check({ service }, { timeoutMs: 10_000 });
    assert.equal(response.status, health.HealthCheckResponse_ServingStatus.SERVING, service);
  }
});

test("CheckConnection is ready with Machine.Read.All granted", async () => {
  const response = await clients.risk.checkConnection({}, { timeoutMs: 30_000 });
  assert.ok(response.ready, JSON.stringify(response.capabilities));
  assert.ok(response.token?.ok);
  assert.ok(response.grantedPermissions.includes("Machine.Read.All"), response.grantedPermissions.join(","));
});

test("an unknown tenant fails with INVALID_FIELD and a BadRequest naming tenant", async () => {
  const thrown = await clients.risk
    .checkConnection({ tenant: "other-tenant" }, { timeoutMs: 10_000 })
    .then(() => assert.fail("CheckConnection(other-tenant) succeeded"), (err: unknown) => err);
  const details = errorDetails(thrown);
  assert.equal(details.error.code, Code.InvalidArgument);
  assert.ok(details.errorInfo, "no google.rpc.ErrorInfo in the status details");
  assert.equal(details.errorInfo.domain, "defenderbridge");
  assert.equal(details.reason, "INVALID_FIELD");
  assert.ok(details.badRequest, "no google.rpc.BadRequest in the status details");
  assert.ok(details.badRequest.fieldViolations.some((v) => v.field === "tenant"));
});

// Health/Watch sends the current status, then waits for changes that never come: only the
// caller's deadline ends it. (A tiny deadline on a fast unary call is a race, not a test.)
test("a deadline ends an endless stream with DEADLINE_EXCEEDED", async () => {
  const received: health.HealthCheckResponse_ServingStatus[] = [];
  const thrown = await (async () => {
    for await (const response of clients.health.watch({ service: "" }, { timeoutMs: 500 })) {
      received.push(response.status);
    }
  })().then(() => assert.fail("Health/Watch ended without an error"), (err: unknown) => err);
  assert.equal(ConnectError.from(thrown).code, Code.DeadlineExceeded);
  assert.deepEqual(received, [health.HealthCheckResponse_ServingStatus.SERVING]);
});
