// Static checks of deploy/Dockerfile (no container engine needed): the two
// Debian 12 stages, the build through the project's own script and CMake, a
// runtime stage that carries only profile_server and runs it as a numeric
// non-root user, and runtime packages that exist in Debian's archive and
// provide every shared library the built binary loads (read with ldd and
// dpkg -S from the binary in PROFILE_SERVER_BINARY), those it loads at run
// time when a flag needs them (dlopen, which ldd cannot see) included: their
// sonames come from the build in PROFILE_SERVER_DLOPEN_SONAMES.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// Instructions with continuations joined and comments dropped.
export function parseDockerfile(text) {
  const instructions = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!current && (line.startsWith("#") || !line)) continue;
    if (line.startsWith("#")) continue;
    current += (current ? " " : "") + line.replace(/\\$/, "").trim();
    if (!line.endsWith("\\")) {
      const [op, ...rest] = current.split(/\s+/);
      instructions.push({ op: op.toUpperCase(), args: rest.join(" ") });
      current = "";
    }
  }
  const stages = [];
  for (const i of instructions) {
    if (i.op === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      stages.push({ image: m[1], name: m[2], instructions: [] });
    } else if (stages.length) {
      stages.at(-1).instructions.push(i);
    }
  }
  return stages;
}

export function aptPackages(stage) {
  const packages = [];
  for (const i of stage.instructions.filter((x) => x.op === "RUN")) {
    const m = /apt-get install ([^&;|]*)/.exec(i.args);
    if (!m) continue;
    for (const word of m[1].split(/\s+/)) {
      if (word && !word.startsWith("-")) packages.push(word);
    }
  }
  return packages;
}

function run(cmd, args) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

// The shared libraries `file` needs, as ldd lists them: soname -> path.
function lddLibraries(file) {
  const libraries = new Map();
  for (const line of run("ldd", [file]).split("\n")) {
    const m = /^\s*(\S+)\s+=>\s+(\/\S+)/.exec(line);
    if (m) libraries.set(m[1], m[2]);
  }
  return libraries;
}

// The sonames profile_server loads with dlopen (server/CMakeLists.txt).
function dlopenSonames() {
  const list = process.env.PROFILE_SERVER_DLOPEN_SONAMES;
  assert.ok(list, "PROFILE_SERVER_DLOPEN_SONAMES is not set");
  return list.split(",").filter((s) => s);
}

// The path the dynamic loader finds `soname` at (its cache), in `dir` (that
// of the binary's libc, i.e. its architecture) if it is there.
function loaderPath(soname, dir) {
  let cache = "";
  for (const ldconfig of ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]) {
    const r = spawnSync(ldconfig, ["-p"], { encoding: "utf8" });
    if (r.status === 0) { cache = r.stdout; break; }
  }
  const paths = [];
  for (const line of cache.split("\n")) {
    const m = /^\s*(\S+) \([^)]*\) => (\/\S+)$/.exec(line);
    if (m && m[1] === soname) paths.push(m[2]);
  }
  assert.ok(paths.length, `the dynamic loader finds no ${soname} (ldconfig -p)`);
  return paths.find((p) => dirname(p) === dir) ?? paths[0];
}

// The Debian packages owning the shared libraries `binary` loads: those it
// is linked with, and the `dlopened` sonames with those they are linked with.
function libraryPackages(binary, dlopened) {
  const linked = lddLibraries(binary);
  const libraries = [...linked.values()];
  for (const soname of dlopened) {
    const path = loaderPath(soname, dirname(linked.get("libc.so.6") ?? ""));
    libraries.push(path, ...lddLibraries(path).values());
  }
  // dpkg knows a file by the path its package ships (/lib or /usr/lib):
  // ask for every spelling at once, one dpkg call.
  const spellings = new Map();
  for (const lib of libraries) {
    const real = realpathSync(lib);
    spellings.set(lib, [...new Set([lib, real, real.replace(/^\/usr\/lib\//, "/lib/"),
      lib.replace(/^\/lib\//, "/usr/lib/")])]);
  }
  const answer = spawnSync("dpkg", ["-S", ...[...spellings.values()].flat()],
    { encoding: "utf8" });
  const ownerOfPath = new Map();
  for (const line of answer.stdout.split("\n")) {
    const m = /^([^:,\s]+)(?::\S+)?: (\/\S+)$/.exec(line);
    if (m) ownerOfPath.set(m[2], m[1]);
  }
  const owners = new Map();
  for (const [lib, paths] of spellings) {
    const owner = paths.map((p) => ownerOfPath.get(p)).find((o) => o);
    assert.ok(owner, `no Debian package owns ${lib}`);
    owners.set(lib, owner);
  }
  return owners;
}

// Package -> its apt-cache stanza fields, for many packages in one call.
function showPackages(packages) {
  const r = spawnSync("apt-cache", ["show", "--no-all-versions", ...packages],
    { encoding: "utf8" });
  const found = new Map();
  for (const stanza of r.stdout.split(/\n\n+/)) {
    const name = /^Package: (\S+)$/m.exec(stanza)?.[1];
    if (name) found.set(name, { priority: /^Priority: (\S+)$/m.exec(stanza)?.[1] });
  }
  return found;
}

// Packages present in the runtime image: those installed, what they pull
// in, and Debian's required set (which every debian:12 image has).
function installedClosure(packages) {
  const closure = new Set();
  const out = run("apt-cache", ["depends", "--recurse", "--no-recommends",
    "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
    "--no-enhances", ...packages]);
  for (const line of out.split("\n")) {
    if (line && !line.startsWith(" ") && !line.startsWith("<")) closure.add(line.trim());
  }
  return closure;
}

function uncovered(owners, packages) {
  const closure = installedClosure(packages);
  const missing = [...new Set(owners.values())].filter((p) => !closure.has(p));
  const shown = missing.length ? showPackages(missing) : new Map();
  return missing.filter((p) => shown.get(p)?.priority !== "required");
}

const stages = parseDockerfile(readFileSync(join(root, "deploy", "Dockerfile"), "utf8"));
const [build, runtime] = stages;

test("two stages, both Debian 12", () => {
  assert.equal(stages.length, 2);
  assert.equal(build.name, "build");
  assert.equal(runtime.name, "runtime");
  for (const s of stages) assert.match(s.image, /^debian:(12|bookworm)(-slim)?$/);
});

test("the build stage runs the project's install script and CMake build", () => {
  const runs = build.instructions.filter((i) => i.op === "RUN").map((i) => i.args).join("\n");
  assert.match(runs, /\.\/deploy\/install-deps\.sh/);
  assert.match(runs, /cmake -S \. -B build/);
  assert.match(runs, /cmake --build build .*--target profile_server/);
  // install-deps.sh is copied before the sources, so source edits keep the
  // package layer cached.
  const copies = build.instructions.filter((i) => i.op === "COPY").map((i) => i.args);
  assert.deepEqual(copies, ["deploy/install-deps.sh deploy/install-deps.sh", ". ."]);
});

test("the runtime stage carries only profile_server, as a non-root user", () => {
  const copies = runtime.instructions.filter((i) => i.op === "COPY" || i.op === "ADD");
  assert.equal(copies.length, 1);
  assert.equal(copies[0].args,
    "--from=build /src/build/server/profile_server /usr/local/bin/profile_server");
  const user = runtime.instructions.filter((i) => i.op === "USER").at(-1);
  assert.ok(user, "no USER");
  const [uid, gid] = user.args.split(":").map(Number);
  assert.ok(Number.isInteger(uid) && uid > 0, `USER ${user.args} is not a numeric non-root uid`);
  assert.ok(Number.isInteger(gid) && gid > 0, `USER ${user.args} has no numeric non-root gid`);
  const entry = runtime.instructions.filter((i) => i.op === "ENTRYPOINT").at(-1);
  assert.deepEqual(JSON.parse(entry.args), ["/usr/local/bin/profile_server"]);
  assert.match(runtime.instructions.map((i) => i.args).join("\n"), /rm -rf \/var\/lib\/apt\/lists/);
});

test("every runtime package exists in Debian's archive", () => {
  const packages = aptPackages(runtime);
  assert.ok(packages.length > 5);
  const shown = showPackages(packages);
  for (const p of packages) assert.ok(shown.has(p), `apt-cache knows no ${p}`);
});

test("the runtime image has stunnel for the production Redis sidecar", () => {
  // deploy/overlays/production runs `stunnel` from this image.
  assert.ok(aptPackages(runtime).includes("stunnel4"));
});

test("the runtime packages provide every library profile_server loads", () => {
  const binary = process.env.PROFILE_SERVER_BINARY;
  assert.ok(binary, "PROFILE_SERVER_BINARY is not set");
  const owners = libraryPackages(binary, dlopenSonames());
  assert.ok(owners.size > 10, "ldd found too few libraries");
  const packages = aptPackages(runtime);
  assert.deepEqual(uncovered(owners, packages), []);
  // And the check has teeth: without libpq5 or libcurl4, which only
  // dlopen loads, a library is missing.
  for (const p of ["libpq5", "libcurl4"]) {
    assert.ok(uncovered(owners, packages.filter((q) => q !== p)).includes(p),
      `${p} is not missed`);
  }
});

test("profile_server loads libcurl and libpq by dlopen, not at start", () => {
  const binary = process.env.PROFILE_SERVER_BINARY;
  assert.ok(binary, "PROFILE_SERVER_BINARY is not set");
  const sonames = dlopenSonames();
  assert.deepEqual(sonames.map((s) => s.replace(/\.so\..*/, "")).sort(),
    ["libcurl", "libpq"]);
  const linked = lddLibraries(binary);
  const text = readFileSync(binary);
  for (const soname of sonames) {
    assert.ok(!linked.has(soname), `profile_server is linked with ${soname}`);
    // The list is the one the binary was built with.
    assert.ok(text.includes(soname), `profile_server never names ${soname}`);
  }
});
