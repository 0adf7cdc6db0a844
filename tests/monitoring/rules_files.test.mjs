// The alert files of deploy/monitoring: the PrometheusRule wraps exactly the
// groups of the plain rules file (as written and as `kubectl kustomize`
// renders it), every alert carries what the on-call needs, and
// rules_test.yml has a firing and a silent case for every alert.
// Run with `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { alertRules, monitoringDir, readYaml, root, rulesFile } from "./monitoring.mjs";

const rules = readYaml(rulesFile);

test("the PrometheusRule holds the rules file's groups, unchanged", () => {
  const wrapped = readYaml(join(monitoringDir, "prometheusrule.yaml"));
  assert.equal(wrapped.apiVersion, "monitoring.coreos.com/v1");
  assert.equal(wrapped.kind, "PrometheusRule");
  assert.equal(wrapped.metadata.name, "profile-service");
  assert.deepEqual(wrapped.spec.groups, rules.groups,
    "run deploy/monitoring/make-prometheusrule.sh");
});

test("kubectl kustomize deploy/monitoring renders the rules and the dashboard", () => {
  const rendered = parseAllDocuments(execFileSync(
    "kubectl", ["kustomize", monitoringDir], { encoding: "utf8" }))
    .map((document) => document.toJS());
  const rule = rendered.find((o) => o.kind === "PrometheusRule");
  assert.equal(rule.metadata.namespace, "profile");
  assert.deepEqual(rule.spec.groups, rules.groups);
  const dashboard = rendered.find((o) => o.kind === "ConfigMap");
  assert.equal(dashboard.metadata.labels.grafana_dashboard, "1");
  assert.equal(JSON.parse(dashboard.data["grafana-dashboard.json"]).uid,
    "profile-service");
});

test("every alert has a for, a severity, a summary and a description", () => {
  const alerts = alertRules(rules);
  assert.ok(alerts.length >= 11, `${alerts.length} alerts`);
  const names = alerts.map((rule) => rule.alert);
  assert.equal(new Set(names).size, names.length, "duplicate alert names");
  for (const rule of alerts) {
    assert.match(rule.for ?? "", /^\d+[smh]$/, `${rule.alert}: for`);
    assert.ok(["critical", "warning"].includes(rule.labels?.severity),
      `${rule.alert}: severity ${rule.labels?.severity}`);
    assert.ok(rule.annotations?.summary?.length > 10, `${rule.alert}: summary`);
    assert.ok(rule.annotations?.description?.length > 80,
      `${rule.alert}: description`);
  }
});

test("rules_test.yml makes every alert fire and stay silent", () => {
  const unitTests = readYaml(join(root, "tests", "monitoring", "rules_test.yml"));
  const fires = new Set();
  const silent = new Set();
  for (const group of unitTests.tests) {
    for (const check of group.alert_rule_test ?? []) {
      (check.exp_alerts?.length ? fires : silent).add(check.alertname);
    }
  }
  const names = alertRules(rules).map((rule) => rule.alert);
  for (const name of names) {
    assert.ok(fires.has(name), `${name} has no case where it fires`);
    assert.ok(silent.has(name), `${name} has no case where it stays silent`);
  }
  for (const name of [...fires, ...silent]) {
    assert.ok(names.includes(name), `rules_test.yml tests unknown alert ${name}`);
  }
});
