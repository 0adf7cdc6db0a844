// Checks the rendered manifests of an overlay (`kubectl kustomize` output):
// every object against the Kubernetes schemas (kubernetes-models, offline),
// then the rules this service's Deployments must keep.
//
//   kubectl kustomize deploy/overlays/dev > dev.yaml
//   node tests/deploy/check_manifests.mjs --overlay=dev dev.yaml
//   node tests/deploy/check_manifests.mjs --json dev.yaml   # objects as JSON
//
// Exits 0 and prints "N objects checked" when all is well; otherwise prints
// every problem and exits 1. The functions are exported for
// check_manifests.test.mjs.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseAllDocuments } from "yaml";

// apiVersion/kind -> the kubernetes-models module and class.
const MODELS = {
  "v1/ConfigMap": ["kubernetes-models/v1", "ConfigMap"],
  "v1/Secret": ["kubernetes-models/v1", "Secret"],
  "v1/Service": ["kubernetes-models/v1", "Service"],
  "v1/ServiceAccount": ["kubernetes-models/v1", "ServiceAccount"],
  "apps/v1/Deployment": ["kubernetes-models/apps/v1", "Deployment"],
  "autoscaling/v2/HorizontalPodAutoscaler": [
    "kubernetes-models/autoscaling/v2", "HorizontalPodAutoscaler"],
  "policy/v1/PodDisruptionBudget": [
    "kubernetes-models/policy/v1", "PodDisruptionBudget"],
  "networking.k8s.io/v1/NetworkPolicy": [
    "kubernetes-models/networking.k8s.io/v1", "NetworkPolicy"],
};

export function parseManifests(text) {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`YAML: ${doc.errors[0].message}`);
      return doc.toJS();
    })
    .filter((obj) => obj != null);
}

export async function schemaProblems(objects) {
  const problems = [];
  for (const obj of objects) {
    const id = `${obj.kind}/${obj.metadata?.name}`;
    const entry = MODELS[`${obj.apiVersion}/${obj.kind}`];
    if (!entry) {
      problems.push(`${id}: no schema known for ${obj.apiVersion} ${obj.kind}`);
      continue;
    }
    const module = await import(entry[0]);
    try {
      new module[entry[1]](obj).validate();
    } catch (e) {
      problems.push(`${id}: schema: ${e.message}`);
    }
  }
  return problems;
}

// Parses an absl duration ("5s", "1m30s", "250ms") into seconds.
export function durationSeconds(text) {
  const units = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6, ns: 1e-9 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)/gy;
  let match;
  let consumed = 0;
  while ((match = re.exec(text)) !== null) {
    total += Number(match[1]) * units[match[2]];
    consumed = re.lastIndex;
  }
  if (text === "0") return 0;
  if (consumed !== text.length || consumed === 0) {
    throw new Error(`not a duration: ${text}`);
  }
  return total;
}

// "--name=value" lines (and bare "--name") into a map.
export function parseFlags(text) {
  const flags = new Map();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^--([a-z0-9_]+)(?:=(.*))?$/.exec(line);
    if (!m) throw new Error(`not a flag line: ${line}`);
    flags.set(m[1], m[2] ?? "true");
  }
  return flags;
}

function portOf(listen) {
  return Number(listen.slice(listen.lastIndexOf(":") + 1));
}

// stunnel's configuration ("key = value", [service] sections, ; comments)
// into { global: Map, services: [{ name, options: Map }] }.
export function parseStunnelConfig(text) {
  const config = { global: new Map(), services: [] };
  let options = config.global;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith(";") || line.startsWith("#")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      options = new Map();
      config.services.push({ name: section[1], options });
      continue;
    }
    const m = /^([A-Za-z]+)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`not a stunnel line: ${line}`);
    options.set(m[1], m[2]);
  }
  return config;
}

// The host and port of a redis:// or postgresql:// URL's first host, and
// its query parameters.
export function urlParts(url) {
  const m = /^[a-z]+:\/\/(?:[^@/]*@)?(\[[^\]]*\]|[^:/?,]*)(?::(\d+))?[^?]*(?:\?(.*))?$/.exec(url);
  if (!m) return null;
  return { host: m[1].replace(/^\[|\]$/g, ""), port: Number(m[2] ?? 0),
    query: new URLSearchParams(m[3] ?? "") };
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1"]);

// The volume a container mounts `path` from, or undefined.
function volumeOf(pod, c, path) {
  const mount = (c.volumeMounts ?? [])
    .filter((vm) => path.startsWith(vm.mountPath + "/"))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return undefined;
  const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
  return volume && { volume, key: path.slice(mount.mountPath.length + 1) };
}

// What is wrong with the stunnel sidecars of `pod` as the tunnel to Redis at
// 127.0.0.1:`port`: there must be one, in client mode, accepting there, and
// verifying Redis's certificate (verifyChain, a CAfile from a Secret, and
// its name with checkHost or checkIP).
export function redisTunnelProblems(objects, pod, port) {
  const sidecars = [...(pod.initContainers ?? []).filter((c) => c.restartPolicy === "Always"),
    ...pod.containers];
  const problems = [];
  for (const c of sidecars) {
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    if (!argv.some((a) => /(^|\/)stunnel4?$/.test(a))) continue;
    const path = argv.find((a) => a.endsWith(".conf"));
    const source = path && volumeOf(pod, c, path);
    const configMap = source?.volume.configMap && objects.find((o) =>
      o.kind === "ConfigMap" && o.metadata.name === source.volume.configMap.name);
    const text = configMap?.data?.[source.key];
    if (text === undefined) {
      problems.push(`container ${c.name}: stunnel's configuration ${path} is not in a ConfigMap`);
      continue;
    }
    const config = parseStunnelConfig(text);
    for (const { name, options } of config.services) {
      const get = (k) => options.get(k) ?? config.global.get(k);
      if (get("accept") !== `127.0.0.1:${port}`) continue;
      const bad = (why) => problems.push(`container ${c.name}: stunnel [${name}] ${why}`);
      if (get("client") !== "yes") bad("is not in client mode");
      if (get("verifyChain") !== "yes") bad("does not verify Redis's certificate (verifyChain = yes)");
      if (!get("checkHost") && !get("checkIP")) bad("does not check Redis's name (checkHost or checkIP)");
      const ca = get("CAfile");
      if (!ca) {
        bad("has no CAfile");
      } else if (!volumeOf(pod, c, ca)?.volume.secret) {
        bad(`CAfile ${ca} is not on a Secret volume`);
      }
      return problems;
    }
  }
  problems.push(`no stunnel sidecar accepts on 127.0.0.1:${port} (the TLS tunnel to Redis)`);
  return problems;
}

// Returns the flags a Deployment's container reads: its args, with every
// --flagfile taken from the ConfigMap volume it is mounted from.
export function containerFlags(objects, deployment, container) {
  const flags = new Map();
  const pod = deployment.spec.template.spec;
  for (const arg of container.args ?? []) {
    const m = /^--([a-z0-9_]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`not a flag: ${arg}`);
    if (m[1] !== "flagfile") {
      flags.set(m[1], m[2] ?? "true");
      continue;
    }
    const path = m[2];
    const mount = (container.volumeMounts ?? []).find((vm) =>
      path.startsWith(vm.mountPath + "/"));
    if (!mount) throw new Error(`--flagfile=${path} is on no volume mount`);
    const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
    if (!volume?.configMap) throw new Error(`--flagfile=${path} is not a ConfigMap`);
    const configMap = objects.find((o) => o.kind === "ConfigMap" &&
      o.metadata.name === volume.configMap.name);
    if (!configMap) throw new Error(`ConfigMap ${volume.configMap.name} is missing`);
    const key = path.slice(mount.mountPath.length + 1);
    if (!(key in (configMap.data ?? {}))) {
      throw new Error(`ConfigMap ${configMap.metadata.name} has no key ${key}`);
    }
    for (const [k, v] of parseFlags(configMap.data[key])) flags.set(k, v);
  }
  return flags;
}

function matches(selector, labels) {
  return Object.entries(selector?.matchLabels ?? {}).every(
    ([k, v]) => labels?.[k] === v);
}

export function policyProblems(objects, overlay) {
  const problems = [];
  const deployments = objects.filter((o) => o.kind === "Deployment");
  if (deployments.length === 0) problems.push("no Deployment");
  for (const d of deployments) {
    const id = `Deployment/${d.metadata.name}`;
    const pod = d.spec.template.spec;
    const podLabels = d.spec.template.metadata?.labels;
    const bad = (why) => problems.push(`${id}: ${why}`);
    if (pod.securityContext?.runAsNonRoot !== true) bad("pod runAsNonRoot is not true");
    if (pod.securityContext?.seccompProfile?.type !== "RuntimeDefault") {
      bad("pod seccompProfile is not RuntimeDefault");
    }
    // Every container, init containers and sidecars too, is locked down.
    for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
      const cid = `container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.runAsNonRoot !== true) bad(`${cid}: runAsNonRoot is not true`);
      if (sc.readOnlyRootFilesystem !== true) bad(`${cid}: readOnlyRootFilesystem is not true`);
      if (sc.allowPrivilegeEscalation !== false) bad(`${cid}: allowPrivilegeEscalation is not false`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) bad(`${cid}: capabilities do not drop ALL`);
      if (sc.seccompProfile?.type !== "RuntimeDefault") bad(`${cid}: seccompProfile is not RuntimeDefault`);
      for (const kind of ["requests", "limits"]) {
        for (const r of ["cpu", "memory"]) {
          if (!c.resources?.[kind]?.[r]) bad(`${cid}: no ${r} ${kind}`);
        }
      }
    }
    // The server's containers: the ones that read a --flagfile.
    const servers = pod.containers.filter((c) => !(c.command ?? []).length);
    if (servers.length === 0) bad("no server container");
    for (const c of servers) {
      const cid = `container ${c.name}`;
      let flags;
      try {
        flags = containerFlags(objects, d, c);
      } catch (e) {
        bad(`${cid}: ${e.message}`);
        continue;
      }
      if (!(c.args ?? []).some((a) => a.startsWith("--flagfile="))) {
        bad(`${cid}: flags do not come from a ConfigMap --flagfile`);
      }
      // Probes: native gRPC, on a port the server really listens on
      // without TLS (the kubelet speaks plaintext).
      const plaintextPorts = new Set();
      if (flags.has("health_listen")) plaintextPorts.add(portOf(flags.get("health_listen")));
      if (flags.has("listen") && !flags.has("tls_cert_file")) {
        plaintextPorts.add(portOf(flags.get("listen")));
      }
      for (const probe of ["readinessProbe", "livenessProbe"]) {
        const grpc = c[probe]?.grpc;
        if (!grpc) {
          bad(`${cid}: ${probe} is not a native grpc probe`);
          continue;
        }
        if (!plaintextPorts.has(grpc.port)) {
          bad(`${cid}: ${probe} port ${grpc.port} is not a plaintext gRPC port of the server`);
        }
        if (typeof grpc.service !== "string" || grpc.service === "") {
          bad(`${cid}: ${probe} names no health service`);
        }
      }
      // Every port the flags listen on is declared.
      const declared = new Set((c.ports ?? []).map((p) => p.containerPort));
      for (const f of ["listen", "health_listen", "metrics_listen"]) {
        if (flags.has(f) && !declared.has(portOf(flags.get(f)))) {
          bad(`${cid}: --${f} port ${portOf(flags.get(f))} is not a containerPort`);
        }
      }
      // The drain sequence fits the grace period.
      const drain = durationSeconds(flags.get("drain_delay") ?? "0s");
      const grace = durationSeconds(flags.get("shutdown_grace") ?? "10s");
      const tgps = pod.terminationGracePeriodSeconds ?? 30;
      if (tgps < drain + grace + 5) {
        bad(`terminationGracePeriodSeconds ${tgps} < --drain_delay ${drain}s + --shutdown_grace ${grace}s + 5s`);
      }
      // Trusted headers need mutual TLS and the allowed client names (or
      // the loud override, dev only).
      const auth = flags.get("auth") ?? "trusted_header";
      const allowedNames = (flags.get("tls_client_allowed_names") ?? "")
        .split(",").map((n) => n.trim()).filter((n) => n);
      if (auth === "trusted_header" && !flags.has("tls_client_ca_file")) {
        if (overlay === "production") {
          bad(`${cid}: production trusts x-user-id without mutual TLS`);
        } else if (flags.get("allow_trusted_header_without_mtls") !== "true") {
          bad(`${cid}: trusted_header on ${flags.get("listen")} without mutual TLS would refuse to start`);
        }
      } else if (auth === "trusted_header" && allowedNames.length === 0) {
        if (overlay === "production") {
          bad(`${cid}: production trusts x-user-id from any client certificate of the CA (no --tls_client_allowed_names)`);
        } else if (flags.get("allow_trusted_header_without_mtls") !== "true") {
          bad(`${cid}: trusted_header on ${flags.get("listen")} without --tls_client_allowed_names would refuse to start`);
        }
      }
      if (allowedNames.length && !flags.has("tls_client_ca_file")) {
        bad(`${cid}: --tls_client_allowed_names without --tls_client_ca_file would refuse to start`);
      }
      // Files the flags name are on read-only Secret or ConfigMap mounts.
      for (const f of ["tls_cert_file", "tls_key_file", "tls_client_ca_file",
        "jwt_secret_file", "jwt_public_key_file", "sms_webhook_secret_file",
        "twilio_auth_token_file", "aliyun_access_key_secret_file",
        "code_secret_file"]) {
        if (!flags.has(f)) continue;
        const mount = (c.volumeMounts ?? []).find((vm) =>
          flags.get(f).startsWith(vm.mountPath + "/"));
        const volume = mount && (pod.volumes ?? []).find((v) => v.name === mount.name);
        if (!volume?.secret) bad(`${cid}: --${f} is not on a Secret volume`);
      }
      if (overlay === "production") {
        for (const [env, flag] of [["REDIS_PASSWORD", "redis_url"],
          ["POSTGRES_PASSWORD", "postgres_url"]]) {
          if (!flags.has(flag)) bad(`${cid}: no --${flag}`);
          const e = (c.env ?? []).find((x) => x.name === env);
          if (!e?.valueFrom?.secretKeyRef) bad(`${cid}: ${env} does not come from a Secret`);
        }
        if (!flags.has("tls_cert_file")) bad(`${cid}: no TLS`);
        // Replicas key code digests alike, with a secret kept out of Redis
        // (the server refuses to start without it).
        if (flags.has("redis_url") && !flags.has("code_secret_file")) {
          bad(`${cid}: --redis_url without --code_secret_file would refuse to start`);
        }
        // Backends over TLS. Debian's hiredis has no TLS: Redis is reached
        // through a verifying stunnel sidecar on the pod's loopback.
        const redis = urlParts(flags.get("redis_url") ?? "");
        if (!redis || !LOOPBACK.has(redis.host)) {
          bad(`${cid}: --redis_url ${flags.get("redis_url")} does not point at a loopback TLS tunnel`);
        } else {
          for (const p of redisTunnelProblems(objects, pod, redis.port || 6379)) bad(p);
        }
        const postgres = urlParts(flags.get("postgres_url") ?? "");
        if (postgres?.query.get("sslmode") !== "verify-full") {
          bad(`${cid}: --postgres_url does not ask for sslmode=verify-full`);
        } else if (postgres.query.has("sslrootcert") &&
          !volumeOf(pod, c, postgres.query.get("sslrootcert"))?.volume.secret) {
          bad(`${cid}: sslrootcert ${postgres.query.get("sslrootcert")} is not on a Secret volume`);
        }
        // Account changes need a recent sign-in (account takeover).
        const maxAuthAge = durationSeconds(flags.get("max_auth_age") ?? "0s");
        if (maxAuthAge === 0 || maxAuthAge > 3600) {
          bad(`${cid}: --max_auth_age ${flags.get("max_auth_age") ?? "0s"} lets an old sign-in change the phone (want 1m to 1h)`);
        }
        // Codes reach phones: no member of the chain writes them where
        // anyone with log access reads them.
        const chain = (flags.get("sms_sender") ?? "log").split(",");
        if (chain.some((m) => m === "log" || m.startsWith("outbox:"))) {
          bad(`${cid}: --sms_sender ${flags.get("sms_sender")} writes codes to a log or file`);
        }
        for (const [member, env, file] of [["twilio", "TWILIO_AUTH_TOKEN", "twilio_auth_token_file"],
          ["aliyun", "ALIYUN_ACCESS_KEY_SECRET", "aliyun_access_key_secret_file"]]) {
          if (!chain.includes(member) || flags.has(file)) continue;
          const e = (c.env ?? []).find((x) => x.name === env);
          if (!e?.valueFrom?.secretKeyRef) bad(`${cid}: ${env} does not come from a Secret`);
        }
      }
    }
    // Services: a normal one and a headless one, both on the gRPC port.
    const services = objects.filter((o) => o.kind === "Service" &&
      matches({ matchLabels: o.spec.selector }, podLabels));
    const grpcTarget = (s) => (s.spec.ports ?? []).some((p) => p.targetPort === "grpc");
    if (!services.some((s) => s.spec.clusterIP === "None" && grpcTarget(s))) {
      bad("no headless Service on the grpc port (client-side round_robin)");
    }
    if (!services.some((s) => s.spec.clusterIP !== "None" && grpcTarget(s))) {
      bad("no ClusterIP Service on the grpc port");
    }
    const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler" &&
      o.spec.scaleTargetRef.name === d.metadata.name);
    if (overlay === "dev") {
      if (d.spec.replicas !== 1) bad(`dev runs ${d.spec.replicas} replicas, not 1`);
      if (hpa) bad("dev has an HPA");
    }
    if (overlay === "production") {
      if (!((d.spec.replicas ?? 1) >= 3 || (hpa && hpa.spec.minReplicas >= 2))) {
        bad("production needs >= 3 replicas or an HPA with minReplicas >= 2");
      }
      if (!hpa) bad("production has no HorizontalPodAutoscaler");
      const pdb = objects.find((o) => o.kind === "PodDisruptionBudget" &&
        matches(o.spec.selector, podLabels));
      if (!pdb) bad("production has no PodDisruptionBudget for its pods");
      const policy = objects.find((o) => o.kind === "NetworkPolicy" &&
        matches(o.spec.podSelector, podLabels));
      if (!policy) {
        bad("production has no NetworkPolicy for its pods");
      } else {
        const ports = new Set();
        for (const rule of policy.spec.ingress ?? []) {
          if (!rule.from?.length) bad("NetworkPolicy admits traffic from anywhere");
          if (!rule.ports?.length) bad("NetworkPolicy admits every port");
          for (const p of rule.ports ?? []) ports.add(p.port);
        }
        if (!(policy.spec.policyTypes ?? []).includes("Ingress")) {
          bad("NetworkPolicy does not restrict Ingress");
        }
        const want = ["grpc", "metrics"];
        if (ports.size !== 2 || !want.every((p) => ports.has(p))) {
          bad(`NetworkPolicy admits ports ${[...ports].join(",")}, not exactly grpc and metrics`);
        }
      }
    }
  }
  return problems;
}

async function main(argv) {
  const overlay = argv.find((a) => a.startsWith("--overlay="))?.slice(10);
  const json = argv.includes("--json");
  const file = argv.find((a) => !a.startsWith("--"));
  const text = readFileSync(file ?? 0, "utf8");
  const objects = parseManifests(text);
  if (json) {
    process.stdout.write(JSON.stringify(objects));
    return 0;
  }
  const problems = [...await schemaProblems(objects),
    ...policyProblems(objects, overlay)];
  for (const p of problems) console.error(`problem: ${p}`);
  if (problems.length) return 1;
  console.log(`${objects.length} objects checked (${overlay ?? "no overlay rules"})`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code),
    (e) => { console.error(`error: ${e.message}`); process.exit(1); });
}
