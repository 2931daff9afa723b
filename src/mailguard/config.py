"""The one typed configuration model.

Everything mailguard does is driven by this model, loaded from a TOML file and
overridable by ``MAILGUARD_…`` environment variables (nested keys use ``__``, for
example ``MAILGUARD_SCHEDULE__POLL_INTERVAL=90s``). Unknown keys are errors: a
typo in a config file of a security tool must never be silently ignored.

Secrets are never stored here, only *where* to find them (an environment
variable name, a file, a command, a systemd credential); :mod:`mailguard.secrets`
resolves them at connect time, so a printed or logged config cannot leak one.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from datetime import time as dtime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_CONFIG_PATHS = (
    Path("~/.config/mailguard/mailguard.toml"),
    Path("/etc/mailguard/mailguard.toml"),
)

_DURATION_RE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*([smhd]))+\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """Accept "90s", "5m", "1h", "1h30m" or a plain number of seconds.

    Errors here and in the other value parsers never quote the value: a
    password pasted into the wrong key (or a ``MAILGUARD_…`` override) would
    otherwise be printed by ``check-config`` and logged by the daemon.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 90s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION_RE.match(value):
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(value))
    else:
        raise ValueError("expected a duration such as 90s, 5m or 1h")
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return seconds


def parse_size(value: Any) -> int:
    """Accept 1048576, "1MB", "512KB", "10MiB"."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512KB or 10MB")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*([KMG]i?B?|B)?\s*", value, re.IGNORECASE)
        if not m:
            raise ValueError("expected a size such as 512KB or 10MB")
        unit = (m.group(2) or "B").upper().rstrip("B").replace("I", "")
        size = int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]
    else:
        raise ValueError("expected a size such as 512KB or 10MB")
    if size <= 0:
        raise ValueError("size must be positive")
    return size


Duration = Annotated[float, BeforeValidator(parse_duration)]
ByteSize = Annotated[int, BeforeValidator(parse_size)]


def _parse_clock(value: Any) -> dtime:
    if isinstance(value, dtime):
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", value)
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60 and int(m.group(3) or 0) < 60:
            return dtime(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    raise ValueError("expected a local time HH:MM")


Clock = Annotated[dtime, BeforeValidator(_parse_clock)]


_INLINE_REFUSED = (
    "inline passwords are refused; use password_env, password_file, "
    "password_command or password_credential"
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSource(_Section):
    """Where a secret lives. Exactly one of the four fields may be set."""

    password_env: str | None = None
    password_file: Path | None = None
    password_command: list[str] | str | None = None
    password_credential: str | None = None
    password: str | None = Field(default=None, exclude=True, repr=False)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretSource:
        if self.password is not None:
            raise ValueError(_INLINE_REFUSED)
        set_ = [
            n
            for n in ("password_env", "password_file", "password_command", "password_credential")
            if getattr(self, n) not in (None, "", [])
        ]
        if len(set_) > 1:
            raise ValueError(f"set exactly one password source, not {' and '.join(set_)}")
        if not set_ and self._secret_required():
            raise ValueError(
                "no password source: set one of password_env, password_file, "
                "password_command or password_credential"
            )
        return self

    def _secret_required(self) -> bool:
        return True

    def secret_source_name(self) -> str | None:
        for n in ("password_env", "password_file", "password_command", "password_credential"):
            if getattr(self, n) not in (None, "", []):
                return n
        return None


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


Security = Literal["tls", "starttls", "none"]
Language = Literal["ja", "en"]
Country = Literal["JP", "US", "GB", "other"]


class AccountConfig(SecretSource):
    """One IMAP mailbox to watch."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 993
    security: Security = "tls"
    allow_insecure: bool = False
    tls_verify: bool = True
    tls_ca_file: Path | None = None
    username: Annotated[str, Field(min_length=1)]
    auth: Literal["password", "oauth2"] = "password"
    oauth2_token_command: list[str] | str | None = None
    oauth2_client_id: str | None = None
    oauth2_client_secret_env: str | None = None
    oauth2_token_endpoint: str | None = None
    oauth2_scope: str | None = None
    folders: Annotated[list[str], Field(min_length=1)] = ["INBOX"]
    quarantine_folder: Annotated[str, Field(min_length=1)] = "Quarantine"
    sent_folder: str | None = None
    digest_to: str | None = None
    language: Language = "ja"
    country: Country = "JP"
    trusted_senders: list[str] = []
    timeout: Duration = 30.0
    # None: the [scan] defaults. idle=false leaves this account to the scheduled poll.
    idle: bool | None = None
    idle_max_connections: Annotated[int, Field(ge=0, le=100)] | None = None
    # Where the user drags a scam mailguard missed; default "<quarantine_folder>/Report".
    report_folder: Annotated[str, Field(min_length=1)] | None = None

    def _secret_required(self) -> bool:
        # oauth2 with a token command needs no stored secret; every other way does.
        return not (self.auth == "oauth2" and self.oauth2_token_command)

    @model_validator(mode="after")
    def _check_account(self) -> AccountConfig:
        if self.security == "none" and not (self.allow_insecure or _is_loopback(self.host)):
            raise ValueError(
                'security = "none" sends the password in clear text; it is only allowed for a '
                "loopback host or with allow_insecure = true"
            )
        if self.auth == "oauth2" and not (
            self.oauth2_token_command or (self.oauth2_client_id and self.oauth2_token_endpoint)
        ):
            raise ValueError(
                'auth = "oauth2" needs oauth2_token_command, or oauth2_client_id and '
                "oauth2_token_endpoint with the refresh token in a password source"
            )
        if self.quarantine_folder in self.folders:
            raise ValueError("quarantine_folder must not be one of the scanned folders")
        if self.report in self.folders or self.report == self.quarantine_folder:
            raise ValueError(
                "report_folder must be neither a scanned folder nor the quarantine folder"
            )
        return self

    @property
    def report(self) -> str:
        """The report folder: configured, else a subfolder of the quarantine folder."""
        return self.report_folder or f"{self.quarantine_folder}/Report"

    @property
    def recipient(self) -> str:
        return self.digest_to or self.username


SYSTEM_STATE_PATH = Path("/var/lib/mailguard/state.db")


def default_state_path() -> Path:
    """Where the state database lives when the config does not say.

    As root (a system service, or an admin by hand) it is the system path. Anyone
    else gets ``$XDG_STATE_HOME/mailguard/state.db``, else
    ``~/.local/state/mailguard/state.db`` -- which is also what the user unit's
    ``StateDirectory=mailguard`` (``%S/mailguard``) is, so the service and
    ``mailguard status`` / ``release`` typed in a shell open the same database
    without any environment variable that only the unit sets.
    """
    if os.geteuid() == 0:
        return SYSTEM_STATE_PATH
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "mailguard" / "state.db"


class StateConfig(_Section):
    path: Path = Field(default_factory=default_state_path)


class ScheduleConfig(_Section):
    poll_interval: Duration = 300.0
    digest_times: list[Clock] = [dtime(8, 0)]
    jitter: Duration = 10.0


class ScanConfig(_Section):
    initial_days: Annotated[int, Field(ge=0, le=36500)] = 30
    batch_size: Annotated[int, Field(ge=1, le=5000)] = 100
    max_message_size: ByteSize = 2 * 1024 * 1024
    max_part_size: ByteSize = 512 * 1024
    check_sent_folder: bool = True
    # IMAP IDLE: scan within seconds of delivery where the server offers it.
    idle: bool = True
    # IDLE connections per account (one per watched folder); Gmail allows 15 in all.
    idle_max_connections: Annotated[int, Field(ge=0, le=100)] = 5
    # Overall time one account's pass may take (scan --once, or one daemon poll); when it
    # is up the pass stops at a message boundary (or abandons a trickling read), keeps
    # what it committed, and the next pass resumes there.
    pass_deadline: Annotated[Duration, Field(gt=0)] = 600.0


class DetectionConfig(_Section):
    scam_threshold: Annotated[float, Field(gt=0)] = 8.0
    suspicious_threshold: Annotated[float, Field(gt=0)] = 4.5
    quarantine_suspicious: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> DetectionConfig:
        if self.suspicious_threshold >= self.scam_threshold:
            raise ValueError("suspicious_threshold must be lower than scam_threshold")
        return self


class DigestConfig(_Section):
    delivery: Literal["imap", "smtp"] = "imap"
    send_empty: bool = False
    immediate: bool = True


class SmtpConfig(SecretSource):
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Security = "starttls"
    allow_insecure: bool = False
    username: str | None = None
    from_address: str = "mailguard@localhost"
    timeout: Duration = 30.0

    def _secret_required(self) -> bool:
        return self.username is not None

    @model_validator(mode="after")
    def _check_smtp(self) -> SmtpConfig:
        if (
            self.security == "none"
            and self.username
            and not (self.allow_insecure or _is_loopback(self.host))
        ):
            raise ValueError(
                'security = "none" with a username sends the password in clear text; only '
                "allowed for a loopback host or with allow_insecure = true"
            )
        return self


class MetricsConfig(_Section):
    listen: str | None = None
    textfile: Path | None = None

    @field_validator("listen")
    @classmethod
    def _loopback_only(cls, v: str | None) -> str | None:
        if v is None:
            return v
        host, _, port = v.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:9464")
        if not _is_loopback(host):
            raise ValueError("the metrics endpoint listens on loopback only")
        return v


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Settings(BaseSettings):
    """The whole configuration. See config/mailguard.example.toml for every key."""

    model_config = SettingsConfigDict(
        env_prefix="MAILGUARD_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    state: StateConfig = Field(default_factory=StateConfig)  # the path depends on the user
    schedule: ScheduleConfig = ScheduleConfig()
    scan: ScanConfig = ScanConfig()
    detection: DetectionConfig = DetectionConfig()
    digest: DigestConfig = DigestConfig()
    smtp: SmtpConfig | None = None
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()
    accounts: Annotated[list[AccountConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        names = [a.name for a in self.accounts]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"account names must be unique: {', '.join(dupes)}")
        if self.digest.delivery == "smtp" and self.smtp is None:
            raise ValueError('digest.delivery = "smtp" needs an [smtp] section')
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
        # Environment beats the file: the file is passed in as init data.
        return (env_settings, init_settings)

    def account(self, name: str) -> AccountConfig:
        for a in self.accounts:
            if a.name == name:
                return a
        raise KeyError(name)


class ConfigError(Exception):
    """A config that cannot be used. ``problems`` holds one line per problem."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = f"{path}: " if path else ""
        super().__init__("\n".join(f"{where}{p}" for p in problems))


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--config, else $MAILGUARD_CONFIG, else the per-user file, else /etc."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("MAILGUARD_CONFIG")
    if env:
        return Path(env).expanduser()
    for candidate in DEFAULT_CONFIG_PATHS:
        p = candidate.expanduser()
        if p.exists():
            return p
    return DEFAULT_CONFIG_PATHS[-1]


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            key += ("." if key else "") + str(part)
    return key or "(top level)"


_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _account_label(name: Any) -> str | None:
    """The account's name for an error line, only if it is a valid name.

    A valid name is an identifier shown by design (status, logs); anything
    else is an invalid value, and invalid values are never echoed.
    """
    return name if isinstance(name, str) and _ACCOUNT_NAME.match(name) else None


def format_validation_error(err: ValidationError, data: dict[str, Any] | None = None) -> list[str]:
    """One line per problem, naming the exact key; never echoes the bad value back.

    Values are left out on purpose: the most common mistake is pasting a
    password into the wrong key, and the error must not print it.
    """
    lines: list[str] = []
    for e in err.errors(include_input=False, include_url=False):
        loc = tuple(e.get("loc", ()))
        msg = e.get("msg", "invalid")
        etype = e.get("type", "")
        if etype == "extra_forbidden":
            msg = "unknown key"
        elif etype == "missing":
            msg = "missing required key"
        msg = msg.removeprefix("Value error, ")
        key = _loc_to_key(loc)
        if data is not None and loc and isinstance(loc[0], str) and loc[0] == "accounts":
            try:
                name = _account_label(data["accounts"][loc[1]].get("name"))
                if name:
                    key += f" (account {name!r})"
            except (KeyError, IndexError, TypeError, AttributeError):
                pass
        lines.append(f"{key}: {msg}")
    return lines


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load and validate; raise :class:`ConfigError` with one line per problem."""
    cfg_path = find_config_path(path)
    try:
        raw = cfg_path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(cfg_path, ["config file not found (use --config PATH)"]) from None
    except OSError as e:
        raise ConfigError(cfg_path, [f"cannot read config file: {e.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(cfg_path, ["config file is not UTF-8"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(cfg_path, [f"TOML syntax error: {e}"]) from None
    return settings_from_dict(data, cfg_path)


_SOURCE_KEYS = ("password_env", "password_file", "password_command", "password_credential")


def _source_conflicts(data: dict[str, Any]) -> list[str]:
    """Find sections with two password sources before pydantic stops at a field error.

    pydantic runs model-level checks only when every field is valid, so a file
    with a bad port *and* two password sources would otherwise report one
    problem at a time.
    """
    sections: list[tuple[str, Any]] = [("smtp", data.get("smtp"))]
    accounts = data.get("accounts")
    if isinstance(accounts, list):
        sections += [(f"accounts[{i}]", a) for i, a in enumerate(accounts)]
    lines = []
    for key, section in sections:
        if not isinstance(section, dict):
            continue
        name = _account_label(section.get("name"))
        label = f"{key} (account {name!r})" if name and key != "smtp" else key
        if "password" in section:
            lines.append(f"{label}: {_INLINE_REFUSED}")
        used = [k for k in _SOURCE_KEYS if section.get(k) not in (None, "", [])]
        if len(used) > 1:
            lines.append(f"{label}: set exactly one password source, not {' and '.join(used)}")
    return lines


def settings_from_dict(data: dict[str, Any], path: Path | None = None) -> Settings:
    early = _source_conflicts(data)
    try:
        settings = Settings(**data)
    except ValidationError as e:
        lines = early + [ln for ln in format_validation_error(e, data) if ln not in early]
        raise ConfigError(path, lines) from None
    except (ValueError, TypeError) as e:  # env values pydantic-settings could not decode
        raise ConfigError(path, [f"environment override: {type(e).__name__}"]) from None
    if early:  # unreachable in practice: the model check rejects these too
        raise ConfigError(path, early)
    return settings


__all__ = [
    "AccountConfig",
    "ConfigError",
    "Settings",
    "find_config_path",
    "load_settings",
    "parse_duration",
    "settings_from_dict",
]
