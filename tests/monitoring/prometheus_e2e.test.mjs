// A real Prometheus (Debian's `prometheus`) on 127.0.0.1, with a temporary
// configuration and storage, scrapes a running profile_server every second
// and loads deploy/monitoring's rules: the calls just made show up in a
// query of grpc_server_handled_total, every rule is healthy, and every
// dashboard query is PromQL that Prometheus accepts. Everything started is
// stopped afterwards. Run with `node --test`; needs PROFILE_SERVER_BINARY,
// PROFILECTL_BINARY and `prometheus` on PATH (or PROMETHEUS_BINARY).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import {
  alertRules, freePort, monitoringDir, profilectl, readYaml, rulesFile,
  startServer,
} from "./monitoring.mjs";

const prometheusBinary = process.env.PROMETHEUS_BINARY || "prometheus";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let dir;
let server;
let prometheus;
let prometheusLog = "";
let api;

// Polls `probe` every 200 ms until it returns a truthy value or `seconds`
// pass; returns the last value.
async function waitFor(probe, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  let value;
  for (;;) {
    try {
      value = await probe();
    } catch {
      value = undefined;
    }
    if (value || Date.now() > deadline) return value;
    await sleep(200);
  }
}

async function query(expr) {
  const response = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return response.json();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "monitoring-e2e-"));
  server = await startServer();
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, "prometheus.yml"), [
    "global:",
    "  scrape_interval: 1s",
    "  evaluation_interval: 1s",
    "rule_files:",
    `  - ${JSON.stringify(rulesFile)}`,
    "scrape_configs:",
    "  - job_name: profile-service",
    "    static_configs:",
    `      - targets: ["127.0.0.1:${server.metricsPort}"]`,
    "",
  ].join("\n"));
  prometheus = spawn(prometheusBinary, [
    `--config.file=${join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  prometheus.stdout.on("data", (chunk) => { prometheusLog += chunk; });
  prometheus.stderr.on("data", (chunk) => { prometheusLog += chunk; });
  const ready = await waitFor(async () => (await fetch(`${api}/-/ready`)).ok);
  assert.ok(ready, `Prometheus not ready in 30 s:\n${prometheusLog}`);
});

after(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus.on("exit", resolve));
    prometheus.kill("SIGTERM");
    const timer = setTimeout(() => prometheus.kill("SIGKILL"), 10000);
    await exited;
    clearTimeout(timer);
  }
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("a query of grpc_server_handled_total returns the calls just made", async () => {
  for (let i = 0; i < 3; ++i) {
    const call = profilectl(server.port, [`--user_id=user-${i}`, "get"]);
    assert.equal(call.code, 0, call.stderr);
  }
  const expr = 'grpc_server_handled_total{grpc_method="GetProfile"}';
  const result = await waitFor(async () => {
    const answer = await query(expr);
    const samples = answer.data?.result ?? [];
    return samples.length === 1 && samples[0].value[1] === "3" ? samples : null;
  });
  assert.ok(result, `no GetProfile count of 3 in 30 s: ${JSON.stringify(await query(expr))}`);
  assert.deepEqual(result[0].metric, {
    __name__: "grpc_server_handled_total",
    grpc_code: "OK",
    grpc_method: "GetProfile",
    grpc_service: "profile.v1.ProfileService",
    grpc_type: "unary",
    instance: `127.0.0.1:${server.metricsPort}`,
    job: "profile-service",
  });
});

test("Prometheus loads every alert of the rules file, healthy", async () => {
  const names = alertRules(readYaml(rulesFile)).map((rule) => rule.alert).sort();
  const rules = await waitFor(async () => {
    const answer = await (await fetch(`${api}/api/v1/rules`)).json();
    const loaded = answer.data.groups.flatMap((group) => group.rules);
    return loaded.length === names.length &&
      loaded.every((rule) => rule.health === "ok") ? loaded : null;
  });
  assert.ok(rules, `rules not all healthy in 30 s: ${
    JSON.stringify((await (await fetch(`${api}/api/v1/rules`)).json()).data)}`);
  assert.deepEqual(rules.map((rule) => rule.name).sort(), names);
  // The server is up and scraped: the service-down alert is not pending.
  const down = await waitFor(async () => {
    const answer = await (await fetch(`${api}/api/v1/rules`)).json();
    const rule = answer.data.groups.flatMap((group) => group.rules)
      .find((r) => r.name === "ProfileServiceDown");
    return rule.state === "inactive" ? rule : null;
  });
  assert.ok(down, "ProfileServiceDown is not inactive");
});

test("every dashboard query is PromQL Prometheus accepts", async () => {
  const dashboard = JSON.parse(
    readFileSync(join(monitoringDir, "grafana-dashboard.json"), "utf8"));
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) {
      const expr = target.expr.replaceAll("$__rate_interval", "1m");
      const answer = await query(expr);
      assert.equal(answer.status, "success",
        `${panel.title}: ${expr}: ${answer.error}`);
    }
  }
});
