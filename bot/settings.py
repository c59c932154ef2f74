"""The one settings object, built at the edge (CLI) and passed down.

Values come from `BRON_*` environment variables (nested with `__`, e.g. `BRON_RETRIEVAL__BACKEND`),
then an optional `bron.toml` in the working folder (or the file named by `BRON_CONFIG`), then defaults.
Slack's own variable names (`SLACK_BOT_TOKEN`, ...) are read too, because every Slack guide uses them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from connectors.settings import SourceName, SourceSettings, SyncSettings
from feedback.settings import StoreSettings
from retrieval.settings import RetrievalSettings
from serving.settings import ServingSettings


class ChannelPolicy(BaseModel):
    """How Bron behaves in one channel: answer unmentioned questions, and which collections it may search."""

    answer_all: bool = False
    collections: list[str] = ["public"]


class CorpusEntry(BaseModel):
    """One corpus root for `bron run`'s start-up sync: a plain path, or `{"path": ..., "collection": ...}`.

    A plain path keeps the collection the index recorded for it (retrieval/access.py), else `public`.
    """

    path: Path
    collection: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_path(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str | Path) else value


class SlackSettings(BaseModel):
    # secrets: a repr, a log line or a traceback shows '**********', never the value
    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    base_url: str | None = None
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    channels: dict[str, ChannelPolicy] = {}
    default_collections: list[str] = ["public"]
    # who may search what (bot/slack/access.py): every full member holds dm_collections, plus the
    # collections of their user groups (id "S…"); a channel answer uses only what channel and asker share
    dm_collections: list[str] = ["public"]
    # Answers run on their own pool, never on Bolt's listener threads (bot/slack/pool.py): workers
    # (one LLM request each), the queue behind them, and how many of those one person may hold.
    answer_workers: int = 10
    answer_queue: int = 40
    answers_per_user: int = 3
    chore_workers: int = 4  # searches and database writes for commands and buttons
    chore_queue: int = 200
    listener_workers: int = 32  # Bolt's acknowledgements and quick listeners
    # Per workspace, for all answers together: stream starts a minute (Slack's Tier 2 is about 20) and
    # appends or updates a minute (Tier 4 appendStream 100, Tier 3 chat.update 50), spread over the answers.
    stream_starts_per_minute: int = 16
    stream_sends_per_minute: int = 40
    # collection → Slack user id of the person who owns it: an "Ask a person" button mentions them
    collection_owners: dict[str, str] = {}
    group_collections: dict[str, list[str]] = {}
    guest_collections: list[str] = []
    external_collections: list[str] = []
    access_cache_s: float = 300.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BRON_", env_nested_delimiter="__", extra="ignore", toml_file="bron.toml"
    )

    data_dir: Path = Path(".bron")
    corpus: list[CorpusEntry] = []
    retrieval: RetrievalSettings = RetrievalSettings()
    serving: ServingSettings = ServingSettings()
    store: StoreSettings = StoreSettings()
    slack: SlackSettings = SlackSettings()
    sources: dict[SourceName, SourceSettings] = {}
    sync: SyncSettings = SyncSettings()
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=os.environ.get("BRON_CONFIG", "bron.toml"))
        return (init_settings, env_settings, toml, file_secret_settings)

    @model_validator(mode="after")
    def _other_embedder_has_its_bars(self) -> Settings:
        """The evidence and quote bars are cosines of the index embedder: e5's 0.8625 means nothing to
        another model, and a wrong bar either answers everything or nothing. Fail at start instead."""
        given = self.serving.model_fields_set
        if self.retrieval.embedder_model is not None and not {"min_dense_score", "quote_bar"} <= given:
            raise ValueError(
                "retrieval.embedder_model is set without the bars for its cosines: set "
                "BRON_SERVING__MIN_DENSE_SCORE and BRON_SERVING__QUOTE_BAR (empty: decline instead of "
                "quoting) to what `bron eval abstention` chooses with that embedder (README, 'A stronger embedder')"
            )
        return self

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.data_dir / 'bron.db').resolve()}"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index.sqlite"


def _secret(value: str | None) -> SecretStr | None:
    return SecretStr(value) if value else None


def reveal(value: SecretStr | None) -> str | None:
    """The secret itself, for the one call that needs it (a client's constructor)."""
    return value.get_secret_value() if value is not None else None


def load_settings() -> Settings:
    """Build settings once; Slack's conventional variables fill in what BRON_SLACK__* leaves empty."""
    settings = Settings()
    slack = settings.slack
    updates = {
        "bot_token": slack.bot_token or _secret(os.environ.get("SLACK_BOT_TOKEN")),
        "app_token": slack.app_token or _secret(os.environ.get("SLACK_APP_TOKEN")),
        "signing_secret": slack.signing_secret or _secret(os.environ.get("SLACK_SIGNING_SECRET")),
    }
    return settings.model_copy(update={"slack": slack.model_copy(update=updates)})


_PRIVATE = ("key", "password", "token", "secret")


def changed_settings(settings: Settings) -> dict[str, dict[str, object]]:
    """The retrieval and serving settings whose value is not the default: "retrieval.chunk_words" ->
    {"value": 300, "default": 180}. Benchmarks print and record these, so a figure says what it measured.
    Credentials are left out."""

    def flat(value: object, prefix: str) -> dict[str, object]:
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in flat(item, f"{prefix}.{key}").items()}
        return {prefix: value}

    changed: dict[str, dict[str, object]] = {}
    for section in ("retrieval", "serving"):
        model: BaseModel = getattr(settings, section)
        now = flat(model.model_dump(mode="json"), section)
        default = flat(type(model)().model_dump(mode="json"), section)
        for name, value in now.items():
            if value != default.get(name) and not any(p in name.rsplit(".", 1)[-1] for p in _PRIVATE):
                changed[name] = {"value": value, "default": default.get(name)}
    return changed
