/**
 * Starts `defender-bridge demo` on a free loopback port for a test file. DEFENDER_BRIDGE_ADDR
 * (host:port) points the tests at a running server instead; DEFENDER_BRIDGE_BIN names the binary
 * (default <repo>/target/debug/defender-bridge).
 */

import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { once } from "node:events";

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

function startOnce(binary: string, port: number): Promise<{ child: ChildProcess; banner: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ["demo", "--listen", `127.0.0.1:${port}`, "--machines", "300"], {
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
  const binary = process.env.DEFENDER_BRIDGE_BIN ?? `${REPO_ROOT}target/debug/defender-bridge`;
  let lastError: unknown;
  // A free port can be taken between the probe and the bind: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const { child, banner } = await startOnce(binary, await freePort());
      const listen = /gRPC service:\s+(\S+)/.exec(banner);
      if (!listen) throw new Error(`no address in the demo banner:\n${banner}`);
      const machine = /"machine_id":\s*"([0-9a-fA-F]{40})"/.exec(banner);
      return {
        baseUrl: `http://${listen[1]}`,
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
