"""deploy/k8s, checked offline.

Core objects validate against the Kubernetes OpenAPI schemas that `kubernetes-validate` ships in its
wheel (strict: unknown fields fail). The ECK `Elasticsearch` and CloudNativePG `Cluster` custom resources
are not in those schemas; they are checked structurally against the fields this deployment relies on.
Kustomize composition is followed in Python (every listed file exists, none is left out) and, where
`kubectl` is installed, rendered with `kubectl kustomize` and validated again.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.manifests import (
    K8S,
    REPO,
    composed_resources,
    kustomization_files,
    load_documents,
    manifest_files,
    pod_labels,
    pod_spec,
)

# Oldest and newest minor versions the manifests must be valid for.
KUBERNETES_VERSIONS = ("1.29", "1.34")
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "production"

# Custom resources: the parts of each operator's schema this deployment depends on.
CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("elasticsearch.k8s.elastic.co/v1", "Elasticsearch"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": {"type": "object", "required": ["name"]},
            "spec": {
                "type": "object",
                "required": ["version", "nodeSets"],
                "properties": {
                    "version": {"type": "string", "pattern": r"^9\.\d+\.\d+$"},
                    "nodeSets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "count"],
                            "properties": {
                                "name": {"type": "string"},
                                "count": {"type": "integer", "minimum": 1},
                                "config": {"type": "object"},
                                "podTemplate": {"type": "object"},
                                "volumeClaimTemplates": {"type": "array"},
                            },
                            "additionalProperties": False,
                        },
                    },
                    "http": {"type": "object"},
                },
            },
        },
    },
    ("postgresql.cnpg.io/v1", "Cluster"): {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": {"type": "object", "required": ["name"]},
            "spec": {
                "type": "object",
                "required": ["instances", "storage", "bootstrap"],
                "properties": {
                    "instances": {"type": "integer", "minimum": 1},
                    "imageName": {"type": "string", "pattern": r":16(\.\d+)?(-.*)?$"},
                    "storage": {"type": "object", "required": ["size"]},
                    "bootstrap": {
                        "type": "object",
                        "required": ["initdb"],
                        "properties": {
                            "initdb": {"type": "object", "required": ["database", "owner"]},
                        },
                    },
                },
            },
        },
    },
}

# Secrets that the operators create (name -> keys); every other referenced Secret must have a template.
OPERATOR_SECRETS = {
    "bron-pg-app": {"username", "password", "uri", "host", "port", "dbname"},
    "bron-es-es-elastic-user": {"elastic"},
    "bron-es-es-http-certs-public": {"ca.crt", "tls.crt"},
}
# Volumes the operator provides by hand, documented next to the manifest that uses them.
EXTERNAL_CLAIMS = {"bron-docs"}


def _all_objects() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in manifest_files() for doc in load_documents(path)]


def _rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed; the Python composition checks still ran")
    result = subprocess.run(
        [kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _validate(obj: dict[str, Any]) -> None:
    key = (obj["apiVersion"], obj["kind"])
    if key in CRD_SCHEMAS:
        jsonschema.validate(obj, CRD_SCHEMAS[key])
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def _objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"].get("name", ""): doc for _, doc in _all_objects() if doc["kind"] == kind}


def _workloads() -> list[dict[str, Any]]:
    return [doc for _, doc in _all_objects() if pod_spec(doc) is not None]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_validates_against_kubernetes_schemas(path: Path) -> None:
    for doc in load_documents(path):
        _validate(doc)


def test_strict_validation_rejects_a_misspelt_field() -> None:
    deployment = load_documents(BASE / "bron" / "deployment.yaml")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


def test_crd_check_rejects_a_nodeset_without_count() -> None:
    es = load_documents(BASE / "elasticsearch" / "elasticsearch.yaml")[0]
    del es["spec"]["nodeSets"][0]["count"]
    with pytest.raises(jsonschema.ValidationError):
        _validate(es)


def test_every_kustomization_entry_exists_and_no_manifest_is_left_out() -> None:
    listed: set[Path] = set()
    for kfile, data in kustomization_files(OVERLAY):
        for entry in data.get("resources", []):
            target = (kfile.parent / entry).resolve()
            assert target.exists(), f"{kfile.relative_to(REPO)} lists missing {entry}"
            listed.add(target)
        for patch in data.get("patches", []):
            assert (kfile.parent / patch["path"]).is_file(), f"{kfile.relative_to(REPO)}: {patch['path']}"
    left_out = {p for p in BASE.rglob("*.yaml") if p.name != "kustomization.yaml"} - listed
    assert not left_out, f"not in base/kustomization.yaml: {sorted(map(str, left_out))}"


def test_secret_templates_and_one_off_jobs_stay_out_of_the_kustomization() -> None:
    composed = {path for path, _ in composed_resources(OVERLAY)}
    assert not any(K8S / "secrets" in p.parents or K8S / "jobs" in p.parents for p in composed)
    assert not any(doc["kind"] == "Secret" for _, doc in composed_resources(OVERLAY))


def test_composition_holds_every_component() -> None:
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in composed_resources(OVERLAY)}
    expected = {
        ("Deployment", "bron"),
        ("Service", "bron"),
        ("HorizontalPodAutoscaler", "bron"),
        ("PodDisruptionBudget", "bron"),
        ("Job", "bron-migrate"),
        ("Ingress", "bron"),
        ("Elasticsearch", "bron-es"),
        ("Cluster", "bron-pg"),
        ("Deployment", "vllm"),
        ("Service", "vllm"),
        ("PersistentVolumeClaim", "bron-adapters"),
    }
    assert expected <= kinds


def test_rendered_overlay_validates_and_lands_in_one_namespace() -> None:
    rendered = _rendered()
    for obj in rendered:
        _validate(obj)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "bron", obj["metadata"]["name"]
    images = {c["image"] for obj in rendered if (spec := pod_spec(obj)) for c in spec["containers"]}
    assert all(re.search(r":[\w.-]+$", image) for image in images), images
    assert len(rendered) == len(composed_resources(OVERLAY))


def test_bron_runs_http_mode_with_three_replicas_and_probes() -> None:
    bron = _objects("Deployment")["bron"]
    container = bron["spec"]["template"]["spec"]["containers"][0]
    assert bron["spec"]["replicas"] == 3
    assert container["args"] == ["run", "--http"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"requests", "limits"} <= set(container["resources"])


def test_bron_pods_run_as_non_root_with_a_read_only_filesystem() -> None:
    for workload in _workloads():
        if pod_labels(workload).get("app.kubernetes.io/name") != "bron":
            continue
        spec = pod_spec(workload)
        assert spec is not None
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]


def test_every_container_declares_resources() -> None:
    for workload in _workloads():
        spec = pod_spec(workload)
        assert spec is not None
        for container in spec["containers"]:
            assert container["resources"]["requests"], workload["metadata"]
            assert container["resources"]["limits"]["memory"], workload["metadata"]


def test_selectors_point_at_real_pods() -> None:
    deployments = _objects("Deployment")
    for service in _objects("Service").values():
        targets = [d for d in deployments.values() if _matches(service["spec"]["selector"], pod_labels(d))]
        assert len(targets) == 1, f"service {service['metadata']['name']} selects {len(targets)} deployments"
        ports = {p["name"] for c in targets[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    for pdb in _objects("PodDisruptionBudget").values():
        target = deployments["bron"]
        assert _matches(pdb["spec"]["selector"]["matchLabels"], pod_labels(target))
        assert pdb["spec"]["minAvailable"] < target["spec"]["replicas"]
    # Only the bot's pods sit behind the Service, not the migration or ingestion Jobs.
    jobs = [w for w in _workloads() if w["kind"] == "Job"]
    assert not any(_matches(_objects("Service")["bron"]["spec"]["selector"], pod_labels(j)) for j in jobs)


def test_hpa_scales_the_bot_on_cpu() -> None:
    hpa = _objects("HorizontalPodAutoscaler")["bron"]
    assert hpa["spec"]["scaleTargetRef"]["name"] in _objects("Deployment")
    assert hpa["spec"]["minReplicas"] == _objects("Deployment")["bron"]["spec"]["replicas"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_ingress_exposes_only_the_slack_endpoint() -> None:
    ingress = _objects("Ingress")["bron"]
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [p["path"] for p in paths] == ["/slack/events"]
    backend = paths[0]["backend"]["service"]
    service = _objects("Service")[backend["name"]]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_referenced_secrets_configmaps_and_claims_exist() -> None:
    templates = {
        doc["metadata"]["name"]: set(doc.get("stringData", {}) or doc.get("data", {}))
        for path in (K8S / "secrets").glob("*.yaml")
        for doc in load_documents(path)
    }
    secrets = templates | OPERATOR_SECRETS
    configmaps = _objects("ConfigMap")
    claims = set(_objects("PersistentVolumeClaim")) | EXTERNAL_CLAIMS
    for workload in _workloads():
        spec = pod_spec(workload)
        assert spec is not None
        for container in spec["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], f"{ref['name']}/{ref['key']}"
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims


def test_secret_templates_hold_placeholders_only() -> None:
    for path in (K8S / "secrets").glob("*.yaml"):
        for doc in load_documents(path):
            assert all(str(v).endswith("change-me") for v in doc["stringData"].values()), path


def _policy_for(port: int) -> list[dict[str, Any]]:
    return [
        rule
        for policy in _objects("NetworkPolicy").values()
        for rule in policy["spec"].get("ingress", [])
        if port in {p["port"] for p in rule.get("ports", [])}
    ]


def test_network_policies_let_only_bron_reach_the_backends() -> None:
    """Default deny; 9200, 5432 and 8000 admit Bron's pods, plus each operator's own namespace."""
    policies = _objects("NetworkPolicy")
    assert policies["default-deny-ingress"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    allowed_namespaces = {9200: {"elastic-system"}, 5432: set(), 8000: {"cnpg-system", "monitoring"}}
    own_pods = {9200: set(), 5432: {"bron-pg"}, 8000: set()}
    for port in (9200, 5432, 8000):
        for rule in _policy_for(port):
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    name = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    assert name in allowed_namespaces[port], f"{name} may not reach port {port}"
                else:
                    labels = peer["podSelector"]["matchLabels"]
                    assert (
                        labels == {"app.kubernetes.io/name": "bron"} or set(labels.values()) <= own_pods[port]
                    )


def test_network_policies_select_pods_that_exist() -> None:
    pod_label_sets = [pod_labels(w) for w in _workloads()]
    # Pods the operators create carry these labels.
    pod_label_sets.append({"elasticsearch.k8s.elastic.co/cluster-name": "bron-es"})
    pod_label_sets.append({"cnpg.io/cluster": "bron-pg"})
    for name, policy in _objects("NetworkPolicy").items():
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        assert any(_matches(selector, labels) for labels in pod_label_sets), name


def test_vllm_gets_a_gpu_and_the_adapter_volume() -> None:
    vllm = _objects("Deployment")["vllm"]
    container = vllm["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/models", "/adapters", "/dev/shm"}
    args = container["args"]
    assert "--enable-lora" in args and "--lora-modules" not in args
    assert not any("api-key" in a for a in args)
    config = _objects("ConfigMap")["bron-config"]["data"]
    assert f"--served-model-name={config['BRON_SERVING__MODEL']}" in args
    assert config["BRON_SERVING__ADAPTER_FILE"] == "/adapters/active.json"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert (
        env["VLLM_PLUGINS"] == "lora_filesystem_resolver"
        and env["VLLM_LORA_RESOLVER_CACHE_DIR"] == "/adapters"
    )


def test_two_vllm_replicas_share_the_adapters_and_promote_reaches_each() -> None:
    vllm = _objects("Deployment")["vllm"]
    assert vllm["spec"]["replicas"] >= 2
    assert vllm["spec"]["strategy"]["type"] == "RollingUpdate"
    assert vllm["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    pvcs = _objects("PersistentVolumeClaim")
    assert pvcs["bron-adapters"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvcs["vllm-models"]["spec"]["accessModes"] == ["ReadWriteMany"]
    headless = _objects("Service")["vllm-replicas"]
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["selector"] == vllm["spec"]["selector"]["matchLabels"]
    bron = _objects("Deployment")["bron"]["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in bron["containers"][0]["volumeMounts"]}
    assert mounts["adapters"]["mountPath"] == "/adapters" and mounts["adapters"]["readOnly"]
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in bron["volumes"]}
    assert claims["adapters"] == "bron-adapters"


def test_vllm_flags_match_compose() -> None:
    compose = yaml.safe_load((K8S.parent / "compose.yaml").read_text(encoding="utf-8"))
    compose_flags = {a.split("=")[0] for a in compose["services"]["vllm"]["command"] if a.startswith("--")}
    container = _objects("Deployment")["vllm"]["spec"]["template"]["spec"]["containers"][0]
    k8s_flags = {a.split("=")[0] for a in container["args"] if a.startswith("--")}
    assert k8s_flags == compose_flags


def test_operators_get_three_node_clusters() -> None:
    es = _objects("Elasticsearch")["bron-es"]
    assert sum(ns["count"] for ns in es["spec"]["nodeSets"]) == 3
    assert _objects("Cluster")["bron-pg"]["spec"]["instances"] == 3
    config = _objects("ConfigMap")["bron-config"]["data"]
    assert config["BRON_RETRIEVAL__ELASTICSEARCH__URL"] == "https://bron-es-es-http:9200"


def test_elasticsearch_keeps_mmap_and_raises_max_map_count() -> None:
    es = _objects("Elasticsearch")["bron-es"]
    node_set = es["spec"]["nodeSets"][0]
    assert "node.store.allow_mmap" not in node_set["config"]
    init = node_set["podTemplate"]["spec"]["initContainers"][0]
    assert "vm.max_map_count=1048576" in " ".join(init["command"])
