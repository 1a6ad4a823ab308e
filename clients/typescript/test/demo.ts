/**
 * Starts `defender-bridge demo` on a free loopback port for a test file. DEFENDER_BRIDGE_ADDR
 * (host:port) points the tests at a running server instead; DEFENDER_BRIDGE_BIN names the binary
 * (default <repo>/target/debug/defender-bridge).
 *
 * `startTlsDemo` starts `demo --tls --tls-dir DIR` (TLS, client certificates required, an API
 * key) unless DEFENDER_BRIDGE_TLS_ADDR (host:port) and DEFENDER_BRIDGE_TLS_DIR (the --tls-dir of
 * a running `demo --tls`) are both set.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const READY_LINE = "Press Ctrl-C to stop.";
// This file runs as dist/test/demo.js inside clients/typescript.
const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export interface Demo {
  /** `http://host:port` of the server under test. */
  baseUrl: string;
  /** A fleet machine named in the demo's banner, when known. */
  sampleMachineId?: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function startOnce(
  binary: string,
  port: number,
  extra: string[],
): Promise<{ child: ChildProcess; banner: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ["demo", "--listen", `127.0.0.1:${port}`, "--machines", "300", ...extra], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let banner = "";
    let logs = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`defender-bridge demo not ready after 60s:\n${banner}${logs}`));
    }, 60_000);
    child.stderr!.on("data", (chunk: Buffer) => (logs += chunk.toString()));
    child.stdout!.on("data", (chunk: Buffer) => {
      banner += chunk.toString();
      if (banner.includes(READY_LINE)) {
        clearTimeout(timer);
        resolve({ child, banner });
      }
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${binary} (run \`cargo build\` or set DEFENDER_BRIDGE_BIN): ${err}`));
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`defender-bridge demo exited (${code}) before it was ready:\n${banner}${logs}`));
    });
  });
}

export async function startDemo(): Promise<Demo> {
  const address = process.env.DEFENDER_BRIDGE_ADDR;
  if (address) {
    return {
      baseUrl: `http://${address}`,
      sampleMachineId: process.env.DEFENDER_BRIDGE_MACHINE_ID || undefined,
      stop: async () => {},
    };
  }
  return await spawnDemo([], "http");
}

/** A `demo --tls` server: `baseUrl` is https://; `files` holds ca.pem, client.pem, api-key, ... */
export interface TlsDemo extends Demo {
  files: string;
}

export async function startTlsDemo(): Promise<TlsDemo> {
  const address = process.env.DEFENDER_BRIDGE_TLS_ADDR;
  const files = process.env.DEFENDER_BRIDGE_TLS_DIR;
  if (address && files) {
    return {
      baseUrl: `https://${address}`,
      sampleMachineId: process.env.DEFENDER_BRIDGE_MACHINE_ID || undefined,
      files,
      stop: async () => {},
    };
  }
  const folder = mkdtempSync(join(tmpdir(), "defender-bridge-ts-tls-"));
  try {
    const demo = await spawnDemo(["--tls", "--tls-dir", folder], "https");
    return {
      ...demo,
      files: folder,
      stop: async () => {
        await demo.stop();
        rmSync(folder, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(folder, { recursive: true, force: true });
    throw err;
  }
}

async function spawnDemo(extra: string[], scheme: "http" | "https"): Promise<Demo> {
  const binary = process.env.DEFENDER_BRIDGE_BIN ?? `${REPO_ROOT}target/debug/defender-bridge`;
  let lastError: unknown;
  // A free port can be taken between the probe and the bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const { child, banner } = await startOnce(binary, await freePort(), extra);
      const listen = /gRPC service:\s+(\S+)/.exec(banner);
      if (!listen) throw new Error(`no address in the demo banner:\n${banner}`);
      const machine = /"machine_id":\s*"([0-9a-fA-F]{40})"/.exec(banner);
      return {
        baseUrl: `${scheme}://${listen[1]}`,
        sampleMachineId: machine?.[1],
        stop: async () => {
          if (child.exitCode !== null) return;
          const exited = once(child, "exit");
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
          await exited;
          clearTimeout(timer);
        },
      };
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}
