/**
 * A consumer of the installed @defender-bridge/client package: compiled by tsc against the
 * package's .d.ts files, then run against a live server (argv[2] = host:port). It imports
 * ConnectError and Code from "@connectrpc/connect", as the package README's error example does:
 * that only resolves when the package brings its runtime along (a peer dependency).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { connectDefenderBridge, errorDetails, health, Code as ReexportedCode } from "@defender-bridge/client";

declare const process: { argv: string[]; exitCode?: number };

const address = process.argv[2];
if (!address) throw new Error("usage: node consumer.js host:port");
const { risk, health: healthClient } = connectDefenderBridge(`http://${address}`);

const serving = await healthClient.check({ service: "" }, { timeoutMs: 10_000 });
if (serving.status !== health.HealthCheckResponse_ServingStatus.SERVING) {
  throw new Error(`health: ${health.HealthCheckResponse_ServingStatus[serving.status]}`);
}

const connection = await risk.checkConnection({}, { timeoutMs: 30_000 });
if (!connection.ready) throw new Error(`CheckConnection not ready: ${JSON.stringify(connection.capabilities)}`);

// A failing call: the error must be the ConnectError class the consumer imported itself (one
// copy of @connectrpc/connect), and its google.rpc details must decode.
let thrown: unknown;
try {
  await risk.checkConnection({ tenant: "other-tenant" }, { timeoutMs: 10_000 });
} catch (err) {
  thrown = err;
}
if (!(thrown instanceof ConnectError)) throw new Error(`not a ConnectError: ${String(thrown)}`);
if (thrown.code !== Code.InvalidArgument || ReexportedCode !== Code) {
  throw new Error(`unexpected code ${Code[thrown.code]}`);
}
const details = errorDetails(thrown);
if (details.reason === "" || !details.badRequest?.fieldViolations.some((v) => v.field === "tenant")) {
  throw new Error(`no BadRequest naming tenant: ${JSON.stringify(details.errorInfo)}`);
}
console.log(`typescript consumer: health SERVING, CheckConnection ready, error ${Code[thrown.code]} ${details.reason}`);
