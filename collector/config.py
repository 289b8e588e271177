"""Collector settings: YAML file < `SOLARWATER_*` environment < command line; checked at start."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from devices.mqtturl import MqttUrlError, parse_mqtt_url
from devices.topics import ID_RE


class ConfigError(ValueError):
    """A configuration mistake; the message is one line for the operator."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def read_secret(value: SecretStr | None, path: Path | None, what: str) -> str | None:
    """A secret given directly (env) or through a file (Docker/K8s secrets); file wins if both."""
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read secret file {path}: {exc.strerror}") from None
    return value.get_secret_value() if value is not None else None


class MqttSettings(Section):
    """The broker connection and subscription."""

    url: str = "mqtt://localhost:1883"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    client_id: str = Field("solarwater-collector", pattern=ID_RE.pattern)
    prefix: str = Field("solarwater", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    session_expiry_s: int = Field(7 * 86400, ge=0)
    receive_maximum: int = Field(2000, ge=1, le=65535)
    reconnect_min_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(60.0, gt=0)
    shared_group: str | None = Field(None, pattern=ID_RE.pattern)
    no_traffic_warn_s: float = Field(900.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        try:
            parse_mqtt_url(v)
        except MqttUrlError as exc:
            raise ValueError(str(exc)) from None
        return v


class InfluxSettings(Section):
    """Where points are written: InfluxDB 1.x `/write` (v1) or the v2 API via influxdb-client."""

    url: str = Field("http://localhost:8086", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    api: Literal["v1", "v2"] = "v1"
    db: str = Field("solarwater", min_length=1)
    retention_policy: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    org: str | None = None
    bucket: str = Field("solarwater", min_length=1)
    token: SecretStr | None = None
    token_file: Path | None = None
    timeout_s: float = Field(10.0, gt=0, le=300)
    batch_size: int = Field(5000, ge=1, le=100_000)
    flush_interval_s: float = Field(0.5, gt=0, le=60)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _v2_needs_credentials(self) -> InfluxSettings:
        if self.api == "v2" and (not self.org or (self.token is None and self.token_file is None)):
            raise ValueError(
                "api v2 needs org and a token (SOLARWATER_INFLUX__TOKEN or influx.token_file)"
            )
        return self


class IngestSettings(Section):
    """Limits on what a message may hold, and device-clock plausibility."""

    max_payload_bytes: int = Field(64 * 1024, ge=256)
    max_readings_per_message: int = Field(1000, ge=1)
    max_future_s: float = Field(600.0, ge=0)
    min_timestamp: datetime = datetime(2020, 1, 1, tzinfo=UTC)
    queue_max_messages: int = Field(20_000, ge=10)
    decoder: str = "json"

    @field_validator("decoder")
    @classmethod
    def _known_decoder(cls, v: str) -> str:
        from collector.decoding import DECODERS

        if v not in DECODERS:
            raise ValueError(f"unknown decoder {v!r}; known: {', '.join(sorted(DECODERS))}")
        return v

    @field_validator("min_timestamp")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=UTC)


class SpoolSettings(Section):
    """The disk spool that holds readings while InfluxDB is unreachable."""

    max_bytes: int = Field(1024**3, ge=1024)
    segment_bytes: int = Field(16 * 1024**2, ge=1024)
    replay_batch_lines: int = Field(5000, ge=1)
    retry_min_s: float = Field(0.5, gt=0)
    retry_max_s: float = Field(30.0, gt=0)


class QuarantineSettings(Section):
    """Where rejected input is kept for an operator to inspect."""

    max_bytes: int = Field(50 * 1024**2, ge=1024)
    keep_recent: int = Field(1000, ge=0)
    payload_excerpt_bytes: int = Field(4096, ge=64)


class HttpSettings(Section):
    """The collector's HTTP server: health, metrics, quarantine and alert API."""

    listen: str = "127.0.0.1:8080"
    enabled: bool = True

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return v

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Settings(BaseSettings):
    """Everything the collector needs; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="SOLARWATER_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    ingest: IngestSettings = IngestSettings()
    spool: SpoolSettings = SpoolSettings()
    quarantine: QuarantineSettings = QuarantineSettings()
    http: HttpSettings = HttpSettings()
    fleet: Path | None = None
    data_dir: Path = Path("var")
    instance: str = Field(default_factory=socket.gethostname, min_length=1)
    stats_interval_s: float = Field(10.0, gt=0)
    station_info_interval_s: float = Field(900.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    workers: int = Field(1, ge=1, le=64)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # CLI (passed as init values) beats the environment, which beats the YAML file.
        yaml_values = _YAML_VALUES.get("values", {})
        return (init_settings, env_settings, InitSettingsSource(settings_cls, yaml_values))


_YAML_VALUES: dict[str, dict[str, Any]] = {}


def _deep_set(target: dict[str, Any], dotted: str, value: Any) -> None:
    node = target
    *parents, leaf = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(x) for x in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


def load_yaml(path: Path) -> dict[str, Any]:
    """The config file as a mapping, or a one-line ConfigError."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"config file {path}: not valid YAML ({str(exc).splitlines()[0]})"
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    return raw


def load_settings(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build the settings from file, environment and dotted CLI overrides; one-line errors."""
    file_values = load_yaml(config_file) if config_file else {}
    init: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _deep_set(init, dotted, value)
    _YAML_VALUES["values"] = file_values
    try:
        return Settings(**init)
    except ValidationError as exc:
        raise ConfigError(f"config error: {_format_error(exc)}") from None
    finally:
        _YAML_VALUES.pop("values", None)
