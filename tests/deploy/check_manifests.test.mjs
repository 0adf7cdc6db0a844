// The manifest checker must catch what it claims to: each case breaks one
// rule in the rendered overlay and expects that rule's problem. Run with
// `node --test`; needs kubectl (kustomize) on PATH.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { parseManifests, policyProblems, schemaProblems } from "./check_manifests.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const render = (overlay) => parseManifests(execFileSync(
  "kubectl", ["kustomize", join(root, "deploy", "overlays", overlay)],
  { encoding: "utf8" }));

const deployment = (objects) => objects.find((o) => o.kind === "Deployment");
const container = (objects) => deployment(objects).spec.template.spec.containers[0];
const flagsMap = (objects) => objects.find((o) => o.kind === "ConfigMap" &&
  o.metadata.name.startsWith("profile-server-flags"));
const tunnel = (objects) => deployment(objects).spec.template.spec.initContainers
  .find((c) => c.name === "redis-tunnel");
const tunnelMap = (objects) => objects.find((o) => o.kind === "ConfigMap" &&
  o.metadata.name.startsWith("profile-redis-tunnel"));
const editFlags = (objects, from, to) => {
  flagsMap(objects).data.flags = flagsMap(objects).data.flags.replace(from, to);
};
const editTunnel = (objects, from, to) => {
  tunnelMap(objects).data["redis.conf"] = tunnelMap(objects).data["redis.conf"].replace(from, to);
};

async function problemsAfter(overlay, mutate) {
  const objects = render(overlay);
  mutate(objects);
  return [...await schemaProblems(objects), ...policyProblems(objects, overlay)];
}

for (const overlay of ["dev", "production"]) {
  test(`${overlay} as rendered has no problems`, async () => {
    assert.deepEqual(await problemsAfter(overlay, () => {}), []);
  });
}

const cases = [
  ["dev", "a string for replicas fails the schema",
    (o) => { deployment(o).spec.replicas = "one"; }, /schema: .*replicas must be integer/],
  ["dev", "a probe port by name fails the schema",
    (o) => { container(o).readinessProbe.grpc.port = "health"; }, /schema: .*port must be integer/],
  ["dev", "an unknown kind has no schema",
    (o) => { o.push({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } }); },
    /no schema known/],
  ["dev", "an exec readiness probe",
    (o) => { container(o).readinessProbe = { exec: { command: ["true"] } }; },
    /readinessProbe is not a native grpc probe/],
  ["dev", "a liveness probe on the metrics port",
    (o) => { container(o).livenessProbe.grpc.port = 9090; },
    /livenessProbe port 9090 is not a plaintext gRPC port/],
  ["production", "a probe on the TLS gRPC port",
    (o) => { container(o).readinessProbe.grpc.port = 50051; },
    /readinessProbe port 50051 is not a plaintext gRPC port/],
  ["dev", "a writable root filesystem",
    (o) => { container(o).securityContext.readOnlyRootFilesystem = false; },
    /readOnlyRootFilesystem is not true/],
  ["dev", "privilege escalation",
    (o) => { delete container(o).securityContext.allowPrivilegeEscalation; },
    /allowPrivilegeEscalation is not false/],
  ["dev", "capabilities kept",
    (o) => { container(o).securityContext.capabilities.drop = ["NET_RAW"]; },
    /capabilities do not drop ALL/],
  ["dev", "no seccomp profile",
    (o) => { delete deployment(o).spec.template.spec.securityContext.seccompProfile; },
    /pod seccompProfile is not RuntimeDefault/],
  ["dev", "root allowed",
    (o) => { deployment(o).spec.template.spec.securityContext.runAsNonRoot = false; },
    /pod runAsNonRoot is not true/],
  ["dev", "no memory limit",
    (o) => { delete container(o).resources.limits.memory; }, /no memory limits/],
  ["dev", "a grace period shorter than the drain",
    (o) => { deployment(o).spec.template.spec.terminationGracePeriodSeconds = 10; },
    /terminationGracePeriodSeconds 10 < --drain_delay 5s \+ --shutdown_grace 10s/],
  ["dev", "a longer drain in the flagfile",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace("--drain_delay=5s", "--drain_delay=1m"); },
    /terminationGracePeriodSeconds 30 < --drain_delay 60s/],
  ["dev", "flags as args instead of a flagfile",
    (o) => { container(o).args = ["--listen=0.0.0.0:50051"]; },
    /flags do not come from a ConfigMap --flagfile/],
  ["dev", "trusted headers without mTLS nor the override",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace("--allow_trusted_header_without_mtls\n", ""); },
    /would refuse to start/],
  ["dev", "two replicas in dev",
    (o) => { deployment(o).spec.replicas = 2; }, /dev runs 2 replicas/],
  ["dev", "no headless Service",
    (o) => { o.splice(o.findIndex((x) => x.spec?.clusterIP === "None"), 1); },
    /no headless Service/],
  ["production", "production without mutual TLS",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace(/--tls_client_ca_file=.*\n/, ""); },
    /production trusts x-user-id without mutual TLS/],
  ["production", "production without allowed client names",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace(/--tls_client_allowed_names=.*\n/, ""); },
    /production trusts x-user-id from any client certificate of the CA/],
  ["production", "production with empty allowed client names",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace(/--tls_client_allowed_names=.*\n/, "--tls_client_allowed_names= , \n"); },
    /no --tls_client_allowed_names/],
  ["production", "production without --max_auth_age",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace(/--max_auth_age=.*\n/, ""); },
    /--max_auth_age 0s lets an old sign-in change the phone/],
  ["production", "production with a day-long --max_auth_age",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace(/--max_auth_age=.*\n/, "--max_auth_age=24h\n"); },
    /--max_auth_age 24h lets an old sign-in/],
  ["dev", "allowed client names without mutual TLS",
    (o) => { flagsMap(o).data.flags += "--tls_client_allowed_names=spiffe://cluster.local/ns/a/sa/b\n"; },
    /--tls_client_allowed_names without --tls_client_ca_file would refuse to start/],
  ["production", "a password in plain env",
    (o) => { container(o).env[0] = { name: "REDIS_PASSWORD", value: "hunter2" }; },
    /REDIS_PASSWORD does not come from a Secret/],
  ["production", "TLS key on a ConfigMap",
    (o) => { deployment(o).spec.template.spec.volumes.find((v) => v.name === "tls").secret = undefined; },
    /--tls_key_file is not on a Secret volume/],
  ["production", "codes to the log",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace("--sms_sender=twilio,webhook", "--sms_sender=twilio,log"); },
    /--sms_sender twilio,log writes codes to a log or file/],
  ["production", "codes to an outbox file",
    (o) => { flagsMap(o).data.flags = flagsMap(o).data.flags.replace("--sms_sender=twilio,webhook", "--sms_sender=outbox:/tmp/o"); },
    /writes codes to a log or file/],
  ["production", "the Twilio token in plain env",
    (o) => { container(o).env.find((e) => e.name === "TWILIO_AUTH_TOKEN").valueFrom = undefined; },
    /TWILIO_AUTH_TOKEN does not come from a Secret/],
  ["production", "webhook secrets on a ConfigMap",
    (o) => { deployment(o).spec.template.spec.volumes.find((v) => v.name === "sms").secret = undefined; },
    /--sms_webhook_secret_file is not on a Secret volume/],
  // Encrypted backends (issue 12).
  ["production", "Redis straight to its Service, without the tunnel",
    (o) => { editFlags(o, /--redis_url=.*\n/, "--redis_url=redis://profile-redis:6379/0\n"); },
    /--redis_url redis:\/\/profile-redis:6379\/0 does not point at a loopback TLS tunnel/],
  ["production", "a loopback Redis URL and no stunnel sidecar",
    (o) => { delete deployment(o).spec.template.spec.initContainers; },
    /no stunnel sidecar accepts on 127.0.0.1:6379/],
  ["production", "a tunnel that does not verify Redis's certificate",
    (o) => { editTunnel(o, /verifyChain = yes\n/, ""); },
    /stunnel \[redis\] does not verify Redis's certificate/],
  ["production", "a tunnel that does not check Redis's name",
    (o) => { editTunnel(o, /checkHost = .*\n/, ""); },
    /stunnel \[redis\] does not check Redis's name/],
  ["production", "a tunnel whose CA is on a ConfigMap",
    (o) => { deployment(o).spec.template.spec.volumes.find((v) => v.name === "redis-ca").secret = undefined; },
    /CAfile \/etc\/stunnel\/redis-ca\/ca.crt is not on a Secret volume/],
  ["production", "a tunnel on another port than --redis_url's",
    (o) => { editFlags(o, "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6380/0"); },
    /no stunnel sidecar accepts on 127.0.0.1:6380/],
  ["production", "a writable root filesystem in the tunnel",
    (o) => { tunnel(o).securityContext.readOnlyRootFilesystem = false; },
    /container redis-tunnel: readOnlyRootFilesystem is not true/],
  ["production", "no memory limit on the tunnel",
    (o) => { delete tunnel(o).resources.limits.memory; },
    /container redis-tunnel: no memory limits/],
  ["production", "PostgreSQL without sslmode",
    (o) => { editFlags(o, /\?sslmode=verify-full&/, "?"); },
    /--postgres_url does not ask for sslmode=verify-full/],
  ["production", "PostgreSQL with sslmode=require (no certificate check)",
    (o) => { editFlags(o, "sslmode=verify-full", "sslmode=require"); },
    /--postgres_url does not ask for sslmode=verify-full/],
  ["production", "the PostgreSQL CA on a ConfigMap",
    (o) => { deployment(o).spec.template.spec.volumes.find((v) => v.name === "postgres-ca").secret = undefined; },
    /sslrootcert \/etc\/profile-server\/postgres\/ca.crt is not on a Secret volume/],
  ["production", "Redis without a code secret",
    (o) => { editFlags(o, /--code_secret_file=.*\n/, ""); },
    /--redis_url without --code_secret_file would refuse to start/],
  ["production", "the code secret on a ConfigMap",
    (o) => { deployment(o).spec.template.spec.volumes.find((v) => v.name === "codes").secret = undefined; },
    /--code_secret_file is not on a Secret volume/],
  ["production", "no PodDisruptionBudget",
    (o) => { o.splice(o.findIndex((x) => x.kind === "PodDisruptionBudget"), 1); },
    /no PodDisruptionBudget/],
  ["production", "no HPA",
    (o) => { o.splice(o.findIndex((x) => x.kind === "HorizontalPodAutoscaler"), 1); },
    /no HorizontalPodAutoscaler/],
  ["production", "a NetworkPolicy that admits the health port too",
    (o) => { o.find((x) => x.kind === "NetworkPolicy").spec.ingress[0].ports.push({ port: 8081 }); },
    /not exactly grpc and metrics/],
  ["production", "a NetworkPolicy rule from anywhere",
    (o) => { delete o.find((x) => x.kind === "NetworkPolicy").spec.ingress[1].from; },
    /admits traffic from anywhere/],
];
for (const [overlay, name, mutate, expected] of cases) {
  test(`${overlay}: ${name} is caught`, async () => {
    const problems = await problemsAfter(overlay, mutate);
    assert.ok(problems.some((p) => expected.test(p)),
      `expected ${expected}, got:\n${problems.join("\n")}`);
  });
}
