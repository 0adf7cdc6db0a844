// Helpers of the tests/monitoring checks: the real profile_server as a child
// process (its ports read from its "serving" log line), profilectl calls,
// the metric names of a /metrics scrape, and the metric names a PromQL
// expression reads.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const monitoringDir = join(root, "deploy", "monitoring");
export const rulesFile = join(monitoringDir, "profile-service.rules.yml");

export const serverBinary = process.env.PROFILE_SERVER_BINARY;
export const profilectlBinary = process.env.PROFILECTL_BINARY;

// Being added by issue 13 (notices to the old phone, reverts): the alerts
// and the dashboard use them before this server exports them.
export const comingMetrics = new Set([
  "profile_notices_pending",
  "profile_notices_oldest_pending_seconds",
  "profile_notices_sent_total",
  "profile_reverts_total",
]);

export const readYaml = (path) => parseYaml(readFileSync(path, "utf8"));

export function alertRules(rulesDocument) {
  return rulesDocument.groups.flatMap((group) => group.rules)
    .filter((rule) => rule.alert !== undefined);
}

// Starts profile_server on 127.0.0.1 port 0 with /metrics on another free
// port; resolves once it serves, with its ports and stop().
export function startServer(args = []) {
  const child = spawn(serverBinary, [
    "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", ...args,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
    }
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`profile_server did not serve in 20 s:\n${log}`));
    }, 20000);
    child.on("exit", () => {
      clearTimeout(timer);
      reject(new Error(`profile_server exited:\n${log}`));
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      log += chunk;
      for (const line of log.split("\n")) {
        if (!line.includes('"message":"serving"')) continue;
        const serving = JSON.parse(line);
        clearTimeout(timer);
        resolve({
          port: Number(serving.port),
          metricsPort: Number(serving.metrics_port),
          log: () => log,
          stop,
        });
      }
    });
  });
}

// Runs profilectl against 127.0.0.1:port; returns its exit code and output.
export function profilectl(port, args) {
  const run = spawnSync(profilectlBinary, [`--target=127.0.0.1:${port}`, ...args],
    { encoding: "utf8", timeout: 10000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

// A port free on 127.0.0.1 now (the kernel's pick, released at once).
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// The metric names of Prometheus text: every sample's name, and every
// declared family (a histogram's also as _bucket, _sum and _count).
export function exportedNames(text) {
  const names = new Set();
  for (const line of text.split("\n")) {
    const type = line.match(/^# TYPE (\S+) (\S+)/);
    if (type) {
      names.add(type[1]);
      if (type[2] === "histogram" || type[2] === "summary") {
        for (const suffix of ["_bucket", "_sum", "_count"]) {
          names.add(type[1] + suffix);
        }
      }
    } else if (line && !line.startsWith("#")) {
      names.add(line.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)[0]);
    }
  }
  return names;
}

const keywords = new Set([
  "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
  "bool", "and", "or", "unless", "inf", "nan",
]);

// The metric names `expr` selects: identifiers that are not functions,
// keywords, label names of by/on/... lists, strings, label matchers or
// durations.
export function queriedNames(expr) {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set();
  // Numbers and durations (0.99, 1h) are tokens of their own.
  for (const match of bare.matchAll(/(\d[\w.]*)|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, number, name, call] = match;
    if (number || call || keywords.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return names;
}

// Scrapes the running server after calls that make every family it exports
// show up (empty families are not written): a code sent through the
// outbox (SMS figures), a wrong code (verifications), a malformed request
// (api-code errors) and a GetProfile.
export async function scrapeAfterEveryKindOfCall(server) {
  profilectl(server.port, ["--user_id=u1", "get"]);
  profilectl(server.port, ["--user_id=u1", "send-code", "+86", "13900139000", "new"]);
  profilectl(server.port, ["--user_id=u1", "verify", "+86", "13900139000", "000000"]);
  profilectl(server.port, ["--user_id=u1", "send-code", "+86", "not-a-number", "new"]);
  const response = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
  return response.text();
}
