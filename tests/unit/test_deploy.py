"""deploy/: the Compose file, the Kubernetes manifests, HAProxy's configuration and the Dockerfile are checked
as far as this machine can without a container runtime: the manifests against Kubernetes' own schemas, the
HAProxy file by haproxy itself, every faqbot variable by faqbot's settings parser, every command and probe
against the code they name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bot.cli.cluster import haproxy_config
from bot.cli.serve import SERVICES
from bot.settings import PROJECT_ROOT, from_env

DEPLOY = PROJECT_ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.28"
#: The probes every replica's health is judged by, as `faqbot cluster` has HAProxy check them.
PROBES = {"rasa": "/ready", "actions": "/health", "web": "/login"}
PORTS = {"rasa": 5005, "actions": 5055, "web": 8000}


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc]
    return found


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text("utf-8").splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_every_manifest_is_valid_kubernetes() -> None:
    checked = manifests()
    assert len(checked) >= 14
    for path, doc in checked:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path.name}: {doc['kind']} {doc['metadata']['name']}: {error.message}")


def test_the_kustomization_applies_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text("utf-8"))
    files = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == files


def test_the_containers_settings_parse_and_reach_each_other_by_service_name() -> None:
    docs = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in manifests()}
    config = docs[("ConfigMap", "faqbot-config")]["data"]
    secret = docs[("Secret", "faqbot-secrets")]["stringData"]
    settings = from_env({key: value for key, value in {**config, **secret}.items() if key.startswith("FAQBOT_")})
    assert (settings.rasa_url, settings.action_server_url) == ("http://rasa:5005", "http://actions:5055")
    assert settings.host == "0.0.0.0" and settings.redis_url and settings.tracker_url.startswith("postgresql://")
    assert settings.database_url.startswith("postgresql://")  # faqbot's own tables shared by every replica
    assert settings.var_dir == Path("/data/var") and settings.secure_cookies
    # Compose: its environment block with the example .env, as `docker compose` would combine them.
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))
    combined = {**env_file(DEPLOY / "env.example"), **compose["x-faqbot"]["environment"]}
    settings = from_env({key: str(value) for key, value in combined.items() if key.startswith("FAQBOT_")})
    assert settings.rasa_url == "http://haproxy:5006" and settings.action_server_url == "http://haproxy:5055"
    assert settings.proxy_hops == 1 and settings.redis_url.startswith("redis://")
    assert settings.database_url.startswith("postgresql://")


def test_every_variable_named_is_one_faqbot_reads() -> None:
    known = set(re.findall(r"FAQBOT_[A-Z0-9_]+", (PROJECT_ROOT / "bot" / "settings.py").read_text("utf-8")))
    known |= {"FAQBOT_COOKIE_KEY"}  # HAProxy's, in deploy/haproxy.cfg
    for path in [*K8S.glob("*.yaml"), DEPLOY / "compose.yaml", DEPLOY / "env.example", DEPLOY / "Dockerfile"]:
        named = set(re.findall(r"FAQBOT_[A-Z0-9_]+", path.read_text("utf-8")))
        assert named <= known, f"{path.name} names {sorted(named - known)}, which faqbot does not read"


def test_each_replica_runs_one_faqbot_serve_command_with_the_clusters_probes() -> None:
    commands = {"prepare", *SERVICES}
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))["services"]
    for name in (*SERVICES, "prepare"):
        assert compose[name]["command"] == [name] and name in commands
    for name in SERVICES:
        assert compose[name]["deploy"]["replicas"] >= 2
        assert f"127.0.0.1:{PORTS[name]}{PROBES[name]}" in " ".join(compose[name]["healthcheck"]["test"])
    deployments = {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == "Deployment"}
    for name in SERVICES:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [name] and deployments[name]["spec"]["replicas"] >= 2
        assert container["readinessProbe"]["httpGet"] == {"path": PROBES[name], "port": PORTS[name]}
    # The same checks `faqbot cluster` has HAProxy make, and deploy/haproxy.cfg too.
    settings = from_env({})
    written = haproxy_config(settings, [settings])
    shipped = (DEPLOY / "haproxy.cfg").read_text("utf-8")
    for probe in PROBES.values():
        assert f"option httpchk GET {probe}" in written and f"option httpchk GET {probe}" in shipped


def test_the_shipped_haproxy_configuration_is_valid_and_exposes_only_rasas_public_paths() -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.fail("haproxy is not installed: run 'make install-dev' (scripts/bootstrap.sh)")
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(DEPLOY / "haproxy.cfg")],
        capture_output=True,
        text=True,
        env={**os.environ, "FAQBOT_COOKIE_KEY": "test"},
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = (DEPLOY / "haproxy.cfg").read_text("utf-8")
    assert "http-request deny unless { path_beg /socket.io/ /webhooks/ }" in text
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text("utf-8"))["services"]["haproxy"]
    assert sorted(port.split(":")[0] for port in compose["ports"]) == ["5005", "8000"]  # not 5006 (Rasa's API)


def test_the_image_holds_what_the_services_read() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text("utf-8")
    copied = {part.rstrip("/") for line in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M) for part in line.split()}
    for needed in ("requirements.lock", "pyproject.toml", "config.yml", "domain.yml", "credentials.yml",
                   "endpoints.yml", "data", "bot", "actions", "channels", "knowledge_base"):  # fmt: skip
        assert needed in copied and (PROJECT_ROOT / needed).exists(), needed
    assert 'ENTRYPOINT ["faqbot", "serve"]' in dockerfile and "python -m bot.cli train" in dockerfile
