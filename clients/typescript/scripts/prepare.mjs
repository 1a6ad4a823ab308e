// `prepare` of @defender-bridge/client: compiles src/ (and test/) into dist/ with tsc.
//
// npm runs `prepare` in this folder for `npm ci` / `npm install` here, for `npm pack`, and for a
// consumer's `npm install <path-to-this-folder>` (linked, or copied with --install-links). In the
// last case npm has installed none of this folder's devDependencies, so there is no tsc: then this
// script installs them first (from package-lock.json, scripts off), so that a folder install needs
// no prior build. A tarball or registry install runs no `prepare`: the tarball carries dist/.
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(root, "package.json"));

function run(command, args, env = process.env) {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

function findTsc() {
  try {
    return require.resolve("typescript/bin/tsc");
  } catch {
    return undefined;
  }
}

let tsc = findTsc();
if (tsc === undefined) {
  // The consumer's npm settings (--global, --omit=dev, --install-links, ...) reach us as
  // npm_config_* variables; only those that say where and how to fetch may apply to this install.
  const keep = new Set(["registry", "cache", "userconfig", "globalconfig", "cafile", "ca", "proxy",
    "https_proxy", "noproxy", "strict_ssl", "offline", "prefer_offline", "prefer_online"]);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([key]) => !key.toLowerCase().startsWith("npm_config_") || keep.has(key.slice(11).toLowerCase()),
    ),
  );
  const npm = process.env.npm_execpath;
  const command = npm ? process.execPath : "npm";
  const args = existsSync(join(root, "package-lock.json")) ? ["ci"] : ["install", "--no-save"];
  args.push("--include=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error");
  console.error("@defender-bridge/client: installing the build tools (devDependencies) to compile dist/");
  run(command, npm ? [npm, ...args] : args, env);
  tsc = findTsc();
  if (tsc === undefined) {
    console.error("@defender-bridge/client: typescript is still missing after installing devDependencies");
    process.exit(1);
  }
}

// A clean build: stale files (say, of a proto file that was removed) must not reach a tarball.
rmSync(join(root, "dist"), { recursive: true, force: true });
run(process.execPath, [tsc, "-p", join(root, "tsconfig.json")]);
