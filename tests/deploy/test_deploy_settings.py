"""The environment the deployment files give Bron is read by Bron's real settings object: every
`BRON_*` name is a field (a typo would be ignored silently, since settings ignore unknown variables),
and the values parse into the production configuration."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bot.settings import Settings, load_settings, reveal
from feedback.spool import spool_path
from tests.deploy.manifests import (
    ENV_EXAMPLE,
    K8S,
    interpolate_tree,
    load_compose,
    load_documents,
    manifest_files,
    parse_env_file,
    pod_labels,
    pod_spec,
)

BRON_TOML = "bron.toml"  # not a variable: a container's mounted bron.toml, carried with its env
SLACK_NAMES = {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"}


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: itself, a union's members (also inside Annotated)."""
    if get_origin(annotation) is Annotated:
        return _models(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, UnionType):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    return []


def _in_models(models: list[type[BaseModel]], parts: list[str]) -> bool:
    for model in models:
        field = model.model_fields.get(parts[0])
        if field is None:
            continue
        if len(parts) == 1:
            return True
        annotation = field.annotation
        if get_origin(annotation) is dict:  # a table of named entries ([sources.NAME]): skip the name
            if len(parts) == 2 or _in_models(_models(get_args(annotation)[1]), parts[2:]):
                return True
        elif _in_models(_models(annotation), parts[1:]):
            return True
    return False


def _is_setting(name: str) -> bool:
    """Whether BRON_A__B__C names a field path a.b.c of Settings (nested models and named tables)."""
    return _in_models([Settings], name.removeprefix("BRON_").lower().split("__"))


def _compose_environment() -> dict[str, str]:
    compose = interpolate_tree(load_compose(), parse_env_file(ENV_EXAMPLE))
    env: dict[str, str] = compose["services"]["bron"]["environment"]
    return env


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion from variables defined earlier in the container."""
    return re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)


def _k8s_environment() -> Iterator[tuple[str, dict[str, str]]]:
    """Per Bron workload: ConfigMap values plus env, with secrets replaced by stand-ins and $(VAR) expanded."""
    configmaps = {
        doc["metadata"]["name"]: doc["data"]
        for path in manifest_files()
        for doc in load_documents(path)
        if doc["kind"] == "ConfigMap"
    }
    for path in manifest_files():
        for doc in load_documents(path):
            spec = pod_spec(doc)
            if spec is None or pod_labels(doc).get("app.kubernetes.io/name") != "bron":
                continue
            for container in spec["containers"]:
                env: dict[str, str] = {}
                for source in container.get("envFrom", []):
                    env.update(configmaps[source["configMapRef"]["name"]])
                for var in container.get("env", []):
                    value = var.get("value", f"secret-{var['name'].lower()}")
                    env[var["name"]] = _expand(value, env)
                for mount in container.get("volumeMounts", []):
                    if mount.get("subPath") == BRON_TOML:  # the working folder's bron.toml
                        volume = next(v for v in spec.get("volumes", []) if v["name"] == mount["name"])
                        env[BRON_TOML] = configmaps[volume["configMap"]["name"]][BRON_TOML]
                yield f"{path.relative_to(K8S)}:{container['name']}", env


def _k8s_cases() -> list[Any]:
    return [pytest.param(env, id=name) for name, env in _k8s_environment()]


def test_setting_lookup_tells_fields_from_typos() -> None:
    assert _is_setting("BRON_RETRIEVAL__ELASTICSEARCH__CA_CERTS")
    assert not _is_setting("BRON_RETRIEVAL__ELASTICSEARCH__CA_CERT")
    assert not _is_setting("BRON_SERVING__MODEL__NAME")
    assert _is_setting("BRON_SOURCES__SHAREPOINT__CLIENT_SECRET")
    assert not _is_setting("BRON_SOURCES__SHAREPOINT__CLIENT_SECRT")


def test_compose_gives_only_real_settings() -> None:
    unknown = [n for n in _compose_environment() if n.startswith("BRON_") and not _is_setting(n)]
    assert not unknown
    assert (
        set(_compose_environment()) - {n for n in _compose_environment() if n.startswith("BRON_")}
        <= SLACK_NAMES
    )


@pytest.mark.parametrize("env", _k8s_cases())
def test_kubernetes_gives_only_real_settings(env: dict[str, str]) -> None:
    unknown = [n for n in env if n.startswith("BRON_") and not _is_setting(n)]
    assert not unknown


def _load(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name in [n for n in os.environ if n.startswith(("BRON_", "SLACK_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(K8S)  # no bron.toml here
    env = dict(env)
    if BRON_TOML in env:
        folder = Path(tempfile.mkdtemp())
        (folder / BRON_TOML).write_text(env.pop(BRON_TOML), encoding="utf-8")
        monkeypatch.chdir(folder)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def _check_production(settings: Settings) -> None:
    assert settings.retrieval.backend == "elasticsearch"
    assert settings.serving.llm_base_url is not None and settings.serving.llm_base_url.endswith("/v1")
    assert str(settings.serving.adapter_file) == "/adapters/active.json"
    url = make_url(settings.store_url)
    assert (url.drivername, url.database) == ("postgresql+psycopg", "bron")
    # The driver Bron depends on (psycopg 3) is the one the URL names; no connection is made.
    create_engine(settings.store_url).dispose()


def test_compose_environment_loads_as_production_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _load(monkeypatch, _compose_environment())
    _check_production(settings)
    assert settings.retrieval.elasticsearch.url == "http://elasticsearch:9200"
    assert reveal(settings.slack.bot_token) == "xoxb-change-me"
    assert str(settings.data_dir) == "/var/lib/bron"
    # The bot mounts the documents at /docs; without a corpus `bron run` would load the sample handbook.
    assert [str(e.path) for e in settings.corpus] == ["/docs"]


@pytest.mark.parametrize("env", _k8s_cases())
def test_kubernetes_environment_loads_as_production_settings(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    settings = _load(monkeypatch, env)
    assert settings.retrieval.backend == "elasticsearch"
    assert settings.retrieval.elasticsearch.ca_certs == "/etc/bron/es-ca/ca.crt"
    if "BRON_STORE__URL" in env:
        _check_production(settings)
        assert make_url(settings.store_url).host == "bron-pg-rw"


def test_the_sync_cronjob_reads_its_sources_and_their_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    env = dict(_k8s_environment())["jobs/sync-cronjob.yaml:sync"]
    settings = _load(monkeypatch, env)
    assert sorted(settings.sources) == ["intranet", "sharepoint"]
    secret = settings.sources["sharepoint"].client_secret  # type: ignore[union-attr]
    assert secret.get_secret_value() == "secret-bron_sources__sharepoint__client_secret"
    assert make_url(settings.store_url).host == "bron-pg-rw"  # cursors live in the shared database


def test_each_replica_purges_its_own_spool_and_the_cronjob_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replica's spool sits in its own emptyDir, out of the purge CronJob's reach: retention holds only
    if every replica runs the schedule (`bron run` does with RETENTION_DAYS set), with the job's period."""
    envs = dict(_k8s_environment())
    bot = _load(monkeypatch, envs["base/bron/deployment.yaml:bron"])
    job = _load(monkeypatch, envs["jobs/purge-cronjob.yaml:purge"])
    assert bot.store.retention_days and bot.store.retention_interval_h > 0
    assert job.store.retention_days == bot.store.retention_days

    [deployment] = load_documents(K8S / "base" / "bron" / "deployment.yaml")
    spec = pod_spec(deployment)
    assert spec is not None
    spool = spool_path(bot.store, bot.data_dir)
    [mount] = [
        m for m in spec["containers"][0]["volumeMounts"] if spool.is_relative_to(m["mountPath"])
    ]  # fmt: skip
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert "emptyDir" in volume  # per pod: no other pod, the CronJob included, could purge it
