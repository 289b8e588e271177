"""Collector settings: YAML file < `SOLARWATER_*` environment < command line; checked at start."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from collector.alerts.durations import Duration
from collector.alerts.settings import AlertSettings
from collector.auth_limit import AuthLimitSettings
from collector.ingest.decoded import DecoderSettings
from collector.ingest.decoding import (
    default_decoder_settings,
    default_gateway_settings,
    parse_decoder_settings,
    parse_gateway_settings,
)
from collector.insight.settings import InsightSettings
from collector.plugin_settings import PluginSettingsError
from collector.secrets import load_secret, url_has_password
from collector.store.sinks import (
    SinkSettings,
    default_sink_settings,
    parse_sink_settings,
)
from collector.web.settings import WebSettings
from devices.errors import ConfigError as ConfigError  # what load_settings raises
from devices.mqtturl import MqttUrlError, parse_mqtt_url
from devices.topics import ID_RE


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def read_secret(value: SecretStr | None, path: Path | None, what: str) -> str | None:
    """The secret as text, from the environment or its file; a ConfigError names the setting."""
    try:
        secret = load_secret(value, path, what)
    except ValueError as exc:
        raise ConfigError(f"config error: {exc}") from None
    return secret.get_secret_value() if secret is not None else None


# A client id may hold '.', which a station id may not ([A-Za-z0-9_-]): no station takes ours.
CLIENT_ID_RE = r"^[A-Za-z0-9_.-]{1,128}$"
PACKET_HEADROOM = 1024  # topic (prefix + ids), packet id, properties, fixed header


def default_client_id(hostname: str) -> str:
    """`solarwater-collector.<host>`: unique per host, outside what a station id can be."""
    host = "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "-" for c in hostname)
    return f"solarwater-collector.{host[:64] or 'localhost'}"


Role = Literal["all", "ingest", "alerts"]
ROLES: tuple[str, ...] = get_args(Role)


def alerts_client_id(client_id: str) -> str:
    """The alert engine's client id beside an ingest client id: its own persistent session."""
    return f"{client_id[:121]}-alerts"


class MqttSettings(Section):
    """The broker connection and subscription."""

    url: str = Field(
        "mqtt://localhost:1883",
        description="Broker URL, mqtt://[user:pass@]host[:port] or mqtts:// for TLS (a password"
        " in it: environment only)",
    )
    username: str | None = Field(None, description="Broker user name (overrides the URL's)")
    password: SecretStr | None = Field(
        None, description="Broker password (secret: environment only)"
    )
    password_file: Path | None = Field(None, description="File holding the broker password")
    client_id: str = Field(
        default_factory=lambda: default_client_id(socket.gethostname()),
        pattern=CLIENT_ID_RE,
        description="Fixed client id, so the persistent session survives restarts "
        "(default: solarwater-collector.<host name>, with -alerts for role alerts; the '.' "
        "keeps station ids off it)",
    )
    prefix: str = Field(
        "solarwater", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", description="Topic prefix"
    )
    ca_file: Path | None = Field(None, description="CA certificate for mqtts://")
    cert_file: Path | None = Field(None, description="Client certificate for mqtts://")
    key_file: Path | None = Field(None, description="Client key for mqtts://")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive")
    session_expiry_s: int = Field(
        7 * 86400,
        ge=0,
        description="How long the broker keeps our session (and queues QoS 1) while we are away",
    )
    receive_maximum: int = Field(
        2000,
        ge=1,
        le=65535,
        description="Unacknowledged QoS 1 messages the broker may send us at once",
    )
    reconnect_min_s: float = Field(1.0, gt=0, description="First reconnect delay")
    reconnect_max_s: float = Field(
        60.0, gt=0, description="Reconnect delay cap (backoff doubles up to this)"
    )
    shared_group: str | None = Field(
        None,
        pattern=ID_RE.pattern,
        description="Shared-subscription group ($share/<group>/...) for scale-out",
    )
    subscribe_status: bool = Field(
        True,
        description="Subscribe to device status (with --workers, worker 0 only; the alert "
        "engine always)",
    )
    no_traffic_warn_s: float = Field(
        900.0, gt=0, description="Watchdog: /healthz warns when connected but silent this long"
    )
    max_packet_bytes: int = Field(
        256 * 1024,
        ge=4096,
        le=268_435_460,
        description="Maximum Packet Size we announce; a larger packet is refused from its header",
    )
    max_server_keepalive_s: int = Field(
        300,
        ge=1,
        le=65535,
        description="Cap on a broker-chosen Server Keep Alive (pings, dead-link detection)",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        try:
            parse_mqtt_url(v)
        except MqttUrlError as exc:
            raise ValueError(str(exc)) from None
        return v


class IngestSettings(Section):
    """Limits on what a message may hold, and device-clock plausibility."""

    max_payload_bytes: int = Field(
        64 * 1024, ge=256, description="Larger messages are rejected as oversized"
    )
    max_readings_per_message: int = Field(1000, ge=1, description="Largest backlog batch accepted")
    max_status_bytes: int = Field(
        1024, ge=64, description="Larger status messages are rejected (status_too_large)"
    )
    max_future_s: float = Field(
        600.0,
        ge=0,
        description="Readings further ahead of the collector clock are quarantined (ts_in_future)",
    )
    min_timestamp: datetime = Field(
        datetime(2020, 1, 1, tzinfo=UTC),
        description="Readings before this are quarantined (ts_before_plausible: RTC resets)",
    )
    queue_max_messages: int = Field(
        20_000, ge=10, description="Messages held between the network thread and the event loop"
    )
    decoder: Annotated[SerializeAsAny[DecoderSettings], NoDecode] = Field(
        default_factory=default_decoder_settings,
        description="Payload decoder: a name, or {type: name} plus that decoder's own settings",
    )
    gateways: Annotated[list[SerializeAsAny[DecoderSettings]], NoDecode] = Field(
        default_factory=default_gateway_settings,
        description="Gateway decoders beside the telemetry (each a name or {type: name, ...};"
        " in the environment, names joined by commas, empty for none); venus reads the GX of"
        " every station with a victron_portal_id",
    )
    max_devices_per_station: int = Field(
        16,
        ge=1,
        le=10_000,
        description="Devices beyond this many per station are refused (too_many_devices)",
    )
    max_unregistered_stations: int = Field(
        256,
        ge=0,
        le=1_000_000,
        description="Unregistered stations beyond this many are refused (too_many_stations)",
    )
    clock_max_age: Duration = Field(
        7 * 86400.0,
        gt=0,
        description="A device's saved clock estimate is restored at start-up when its last"
        " live sample is younger than this (e.g. '7d')",
    )

    @field_validator("decoder", mode="before")
    @classmethod
    def _decoder(cls, v: Any) -> DecoderSettings:
        return parse_decoder_settings(v)

    @field_validator("gateways", mode="before")
    @classmethod
    def _gateways(cls, v: Any) -> list[DecoderSettings]:
        if isinstance(v, str):  # the environment: a comma-separated list of names
            v = [name.strip() for name in v.split(",") if name.strip()]
        return parse_gateway_settings(v)

    @field_validator("min_timestamp")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return v if v.tzinfo else v.replace(tzinfo=UTC)


class SpoolSettings(Section):
    """The disk spool that holds readings while InfluxDB is unreachable."""

    max_bytes: int = Field(
        1024**3,
        ge=1024,
        description="Disk spool bound; when full, acks stop and the broker holds the rest",
    )
    segment_bytes: int = Field(16 * 1024**2, ge=1024, description="Spool segment file size")
    replay_batch_lines: int = Field(
        5000, ge=1, description="Lines per write when replaying the spool"
    )
    retry_min_s: float = Field(0.5, gt=0, description="First retry delay while InfluxDB is down")
    retry_max_s: float = Field(30.0, gt=0, description="Retry delay cap")


class QuarantineSettings(Section):
    """Where rejected input is kept for an operator to inspect."""

    max_bytes: int = Field(
        50 * 1024**2,
        ge=1024,
        description="quarantine.jsonl size before it rotates (one older file kept)",
    )
    keep_recent: int = Field(1000, ge=0, description="Entries kept in memory for GET /quarantine")
    payload_excerpt_bytes: int = Field(
        4096, ge=64, description="Bytes of each rejected payload kept"
    )


class HttpSettings(Section):
    """The collector's HTTP server: health, metrics, quarantine and alert API."""

    listen: str = Field(
        "127.0.0.1:8080", description="HTTP API address (localhost only by default)"
    )
    enabled: bool = Field(True, description="Serve the HTTP API")
    auth_limit: AuthLimitSettings = Field(
        default_factory=AuthLimitSettings,
        description="Failed sign-ins, signed links and API tokens per client address",
    )

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
    influx: SerializeAsAny[SinkSettings] = Field(
        default_factory=default_sink_settings,
        description="Where points are written; `api` names the sink plugin, which owns the rest",
    )
    ingest: IngestSettings = IngestSettings()
    spool: SpoolSettings = SpoolSettings()
    quarantine: QuarantineSettings = QuarantineSettings()
    http: HttpSettings = HttpSettings()
    alerts: AlertSettings = AlertSettings()
    insight: InsightSettings = InsightSettings()
    web: WebSettings = WebSettings()
    fleet: Path | None = Field(
        None,
        description="Station registry YAML (default: 19-site sample fleet; 'none': no registry)",
    )
    data_dir: Path = Field(
        Path("var"), description="Folder for the spool, quarantine and alert state"
    )
    instance: str = Field(
        default_factory=lambda: socket.gethostname()[:64] or "collector",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Tag of this collector's own points (default: host name)",
    )
    stats_interval_s: float = Field(
        10.0, gt=0, description="How often the collector writes its own `collector` point"
    )
    station_info_interval_s: float = Field(
        900.0, gt=0, description="How often registry facts are written as `station_info`"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Ingest processes sharing the subscription (role all: plus one alert engine)",
    )
    role: Role = Field(
        "all",
        description="all: ingest and the alert engine; ingest: readings to InfluxDB only; "
        "alerts: the alert engine alone, on its own subscription (one in the whole group)",
    )

    @model_validator(mode="after")
    def _role_fits(self) -> Settings:
        engine = self.alerts.enabled
        if self.role == "alerts":
            if self.workers > 1:
                raise ValueError("role alerts runs the one alert engine: workers must be 1")
            # Every reading and status of every station, on a session of its own: outside
            # the ingest group (the same config file serves both roles) and never taking
            # over the session of an ingest process on the same host.
            self.mqtt.shared_group = None
            self.mqtt.subscribe_status = True
            if "client_id" not in self.mqtt.model_fields_set:
                self.mqtt.client_id = alerts_client_id(self.mqtt.client_id)
        elif self.role == "all" and self.workers == 1 and self.mqtt.shared_group and engine:
            raise ValueError(
                f"mqtt.shared_group {self.mqtt.shared_group!r} gives this process a share "
                "of the readings, so its alert engine would see part of each station; run "
                "the group's members with role ingest and one process with role alerts"
            )
        return self

    @model_validator(mode="after")
    def _web_fits(self) -> Settings:
        if not self.web.enabled:
            return self
        if not self.alerts.enabled or self.role == "ingest":
            raise ValueError(
                "web.enabled needs the alert engine (alerts.enabled, role all or alerts)"
            )
        if self.web.influx_db is None and not isinstance(getattr(self.influx, "db", None), str):
            raise ValueError("web.influx_db: set the InfluxQL database the pages read")
        return self

    @field_validator("influx", mode="before")
    @classmethod
    def _sink(cls, v: Any) -> SinkSettings:
        return parse_sink_settings(v)

    @model_validator(mode="after")
    def _packet_holds_a_payload(self) -> Settings:
        # Mosquitto drops, unseen by us, what exceeds our Maximum Packet Size: every payload
        # the decoder would accept must fit, with room for the topic and headers.
        if self.mqtt.max_packet_bytes < self.ingest.max_payload_bytes + PACKET_HEADROOM:
            raise ValueError(
                f"mqtt.max_packet_bytes ({self.mqtt.max_packet_bytes}) must be at least "
                f"ingest.max_payload_bytes + {PACKET_HEADROOM} ({self.ingest.max_payload_bytes}"
                f" + {PACKET_HEADROOM}), or the broker drops payloads the collector accepts"
            )
        return self

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


def _flat_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """(dotted place, message) per error; a plugin's own errors under its section."""
    out: list[tuple[str, str]] = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "config"
        inner = err.get("ctx", {}).get("error")
        if isinstance(inner, PluginSettingsError):
            for loc, msg in inner.problems:
                out.append((".".join(str(x) for x in (*err["loc"], *loc)), msg))
            continue
        out.append((where, err["msg"].removeprefix("Value error, ")))
    return out


def _format_error(exc: ValidationError) -> str:
    errors = _flat_errors(exc)
    parts = [f"{where}: {msg}" for where, msg in errors[:3]]
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
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


SECRET_KEYS = ("password", "token", "secret")
# Sections whose `url` may hold user:pass@, which is a secret like any other in the file.
URL_SECTIONS = ("mqtt", "influx")


def _secrets_in(values: Any, path: str = "") -> list[str]:
    """Dotted names of secret-looking keys holding literal values (not *_file references)."""
    found: list[str] = []
    if isinstance(values, dict):
        for key, value in values.items():
            dotted = f"{path}{key}"
            if isinstance(value, dict | list):
                found += _secrets_in(value, dotted + ".")
            elif any(str(key).endswith(s) for s in SECRET_KEYS) and value not in (None, ""):
                found.append(dotted)
    elif isinstance(values, list):
        for i, item in enumerate(values):
            found += _secrets_in(item, f"{path}{i}.")
    return found


def load_settings(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Build the settings from file, environment and dotted CLI overrides; one-line errors."""
    file_values = load_yaml(config_file) if config_file else {}
    secrets = _secrets_in(file_values)
    if secrets:
        env = "SOLARWATER_" + secrets[0].upper().replace(".", "__")
        raise ConfigError(
            f"config file {config_file}: {secrets[0]} is a secret; set it in {env} "
            f"or point {secrets[0]}_file at a file instead of writing it in the config"
        )
    for section in URL_SECTIONS:
        values = file_values.get(section)
        if isinstance(values, dict) and url_has_password(values.get("url")):
            raise ConfigError(
                f"config file {config_file}: {section}.url carries a password; set the URL in "
                f"SOLARWATER_{section.upper()}__URL, or take the password out of it and point "
                f"{section}.password_file at a file"
            )
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
