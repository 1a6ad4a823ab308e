/**
 * GetEndpointRisk, StreamFleetRisk and the action RPCs against a live server. The assertions
 * follow the documented contract (proto comments, docs/risk-model.md, docs/errors.md).
 */

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";

import {
  connectDefenderBridge,
  errorDetails,
  IsolationType,
  MachineActionStatus,
  MachineActionType,
  RiskLevel,
  type DefenderBridgeClients,
  type FleetSummary,
} from "../src/index.js";
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

/** A fleet machine: the banner's, else the first one the fleet stream sends. */
async function fleetMachineId(): Promise<string> {
  if (demo.sampleMachineId) return demo.sampleMachineId;
  for await (const message of clients.risk.streamFleetRisk({ maxMachines: 1 }, { timeoutMs: 60_000 })) {
    if (message.item.case === "risk") return message.item.value.machine!.id;
  }
  assert.fail("the fleet stream sent no machine");
}

test("GetEndpointRisk of a fleet machine", async () => {
  const machineId = await fleetMachineId();
  const risk = await clients.risk.getEndpointRisk(
    { endpoint: { case: "machineId", value: machineId } },
    { timeoutMs: 30_000 },
  );
  assert.equal(risk.machine?.id.toLowerCase(), machineId.toLowerCase());
  assert.notEqual(risk.riskLevel, RiskLevel.UNSPECIFIED);
  assert.ok(risk.riskLevel >= Math.max(risk.defenderRiskScore, risk.exposureRiskLevel, risk.alertRiskLevel));
  assert.ok(risk.evaluatedAt);
  assert.ok(risk.links?.overviewUrl);
});

test("GetEndpointRisk rejects a malformed machine id with INVALID_FIELD", async () => {
  const thrown = await clients.risk
    .getEndpointRisk({ endpoint: { case: "machineId", value: "not-a-machine-id" } }, { timeoutMs: 10_000 })
    .then(() => assert.fail("a malformed id was accepted"), (err: unknown) => err);
  const details = errorDetails(thrown);
  assert.equal(details.error.code, Code.InvalidArgument);
  assert.equal(details.reason, "INVALID_FIELD");
  assert.ok(details.badRequest?.fieldViolations.some((v) => v.field === "machine_id"));
});

test("GetEndpointRisk of an unknown machine is NOT_FOUND with ResourceInfo", async () => {
  const thrown = await clients.risk
    .getEndpointRisk({ endpoint: { case: "machineId", value: "0".repeat(40) } }, { timeoutMs: 30_000 })
    .then(() => assert.fail("an unknown machine was found"), (err: unknown) => err);
  const details = errorDetails(thrown);
  assert.equal(details.error.code, Code.NotFound);
  assert.equal(details.reason, "NOT_FOUND");
  assert.ok(details.resourceInfo);
});

test("StreamFleetRisk sends each machine once, then one complete summary", async () => {
  const seen = new Set<string>();
  const summaries: FleetSummary[] = [];
  for await (const message of clients.risk.streamFleetRisk({}, { timeoutMs: 120_000 })) {
    if (message.item.case === "risk") {
      assert.equal(summaries.length, 0, "a risk came after the summary");
      const id = message.item.value.machine!.id;
      assert.ok(!seen.has(id), `machine ${id} sent twice`);
      seen.add(id);
    } else if (message.item.case === "summary") {
      summaries.push(message.item.value);
    }
  }
  assert.equal(summaries.length, 1);
  assert.ok(seen.size > 0);
  assert.equal(summaries[0].machineCount, BigInt(seen.size));
  assert.ok(summaries[0].complete, summaries[0].reasonIncomplete);
});

async function watchToTerminal(actionId: string): Promise<MachineActionStatus[]> {
  const statuses: MachineActionStatus[] = [];
  const stream = clients.actions.watchMachineAction(
    { actionId, pollInterval: { seconds: 2n, nanos: 0 } },
    { timeoutMs: 180_000 },
  );
  for await (const action of stream) {
    assert.equal(action.id, actionId);
    statuses.push(action.status);
  }
  return statuses;
}

test("IsolateMachine with a request_id is idempotent and its watch ends SUCCEEDED", async () => {
  const machineId = await fleetMachineId();
  const request = {
    machineId,
    comment: "client test: isolate",
    isolationType: IsolationType.SELECTIVE,
    requestId: randomUUID(),
  };
  const first = await clients.actions.isolateMachine(request, { timeoutMs: 30_000 });
  const retried = await clients.actions.isolateMachine(request, { timeoutMs: 30_000 });
  assert.ok(first.id);
  assert.equal(retried.id, first.id, "a retry with the same request_id acted twice");
  assert.equal(first.type, MachineActionType.ISOLATE);

  const statuses = await watchToTerminal(first.id);
  assert.equal(statuses.at(-1), MachineActionStatus.SUCCEEDED, statuses.join(","));
  for (let i = 1; i < statuses.length; i++) assert.notEqual(statuses[i], statuses[i - 1]);

  const release = await clients.actions.releaseMachine(
    { machineId, comment: "client test: release", requestId: randomUUID() },
    { timeoutMs: 30_000 },
  );
  assert.equal((await watchToTerminal(release.id)).at(-1), MachineActionStatus.SUCCEEDED);
});
