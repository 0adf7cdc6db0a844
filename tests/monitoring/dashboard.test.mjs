// The Grafana dashboard parses, and every query in it (and in the alerts)
// reads metrics that the real profile_server exports: the names of a
// scrape of the running binary after calls that make every family appear,
// plus the notice and revert metrics issue 13 is adding. Run with
// `node --test`; needs PROFILE_SERVER_BINARY and PROFILECTL_BINARY.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import {
  alertRules, comingMetrics, exportedNames, monitoringDir, queriedNames,
  readYaml, rulesFile, scrapeAfterEveryKindOfCall, startServer,
} from "./monitoring.mjs";

const dashboard = JSON.parse(
  readFileSync(join(monitoringDir, "grafana-dashboard.json"), "utf8"));
const queries = dashboard.panels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })));

let server;
let exported;
before(async () => {
  server = await startServer([
    `--sms_sender=outbox:${join(tmpdir(), `monitoring-outbox-${process.pid}.jsonl`)}`,
  ]);
  exported = exportedNames(await scrapeAfterEveryKindOfCall(server));
});
after(async () => server?.stop());

test("the scrape has the families the dashboard is about", () => {
  for (const name of [
    "grpc_server_handled_total", "grpc_server_handling_seconds_bucket",
    "profile_rpc_errors_total", "profile_sms_sends_total",
    "profile_sms_breaker_open", "profile_sms_region_suspended",
    "profile_tokens_live",
  ]) {
    assert.ok(exported.has(name), `${name} not in the scrape`);
  }
});

test("the dashboard is Grafana JSON with queries on a datasource variable", () => {
  assert.equal(dashboard.uid, "profile-service");
  assert.ok(dashboard.templating.list.some(
    (v) => v.type === "datasource" && v.query === "prometheus"));
  assert.ok(queries.length >= 20, `${queries.length} queries`);
  const ids = dashboard.panels.map((panel) => panel.id);
  assert.equal(new Set(ids).size, ids.length, "panel ids repeat");
  for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
    assert.equal(panel.datasource.uid, "${datasource}", panel.title);
    assert.ok(panel.targets.length > 0, panel.title);
  }
});

test("every dashboard query reads metrics the server exports", () => {
  for (const { panel, expr } of queries) {
    const names = queriedNames(expr);
    assert.ok(names.size > 0, `${panel}: no metric in ${expr}`);
    for (const name of names) {
      assert.ok(exported.has(name) || comingMetrics.has(name),
        `${panel}: ${name} is not exported (${expr})`);
    }
  }
});

test("every alert reads metrics the server exports (and Prometheus's up)", () => {
  for (const rule of alertRules(readYaml(rulesFile))) {
    for (const name of queriedNames(rule.expr)) {
      assert.ok(name === "up" || exported.has(name) || comingMetrics.has(name),
        `${rule.alert}: ${name} is not exported`);
    }
  }
});

test("the dashboard covers every panel the issue asks for", () => {
  const all = queries.map((q) => q.expr).join("\n");
  for (const name of [
    "grpc_server_handled_total", "profile_rpc_errors_total",
    "grpc_server_handling_seconds_bucket", "profile_sms_sends_total",
    "profile_sms_breaker_open", "profile_sms_region_suspended",
    "profile_notices_pending", "profile_tokens_live",
  ]) {
    assert.ok(all.includes(name), `no panel reads ${name}`);
  }
});
