"""Settings from the environment and ``.env`` (pydantic-settings); the only place env is read."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEFAULT_ALPACA_DATA_URL",
    "DEFAULT_ALPACA_TRADING_URL",
    "IEX_CLOUD_NOTICE",
    "Settings",
    "looks_like_placeholder",
]

DEFAULT_ALPACA_DATA_URL = "https://data.alpaca.markets"
DEFAULT_ALPACA_TRADING_URL = "https://paper-api.alpaca.markets"  # assets list (universes)
IEX_CLOUD_NOTICE = (
    "IEX_TOKEN is set but IEX Cloud shut down on 2024-08-31, so stockdb ignores it; for "
    "IEX-exchange bars set ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY (free Alpaca account, "
    "ALPACA_FEED=iex), or leave the keys unset to use synthetic data"
)
# Words that mark a value copied unchanged from .env.example or a tutorial.
_PLACEHOLDER_WORDS = ("your", "change", "replace", "example", "placeholder", "<", "...")


def looks_like_placeholder(value: str) -> bool:
    """True for values such as ``your-key-id``, ``<secret>``, ``changeme`` or ``xxxx``."""
    text = value.strip().lower()
    if not text:
        return False
    return any(word in text for word in _PLACEHOLDER_WORDS) or set(text) <= set("x*-_")


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")  # what STOCKDB_QUEUE_URL may start with


class Settings(BaseSettings):
    """Every knob stockdb reads. Secrets are ``SecretStr`` so they never print by accident."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(
        default=Path("data"), validation_alias=AliasChoices("STOCKDB_DATA_DIR", "data_dir")
    )
    alpaca_key_id: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "ALPACA_API_KEY_ID", "ALPACA_KEY_ID", "APCA_API_KEY_ID", "alpaca_key_id"
        ),
    )
    alpaca_secret_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "ALPACA_API_SECRET_KEY", "ALPACA_SECRET_KEY", "APCA_API_SECRET_KEY", "alpaca_secret_key"
        ),
    )
    alpaca_base_url: str = Field(
        default=DEFAULT_ALPACA_DATA_URL,
        validation_alias=AliasChoices(
            "ALPACA_API_BASE_URL", "APCA_API_DATA_URL", "alpaca_base_url"
        ),
    )
    alpaca_trading_url: str = Field(
        default=DEFAULT_ALPACA_TRADING_URL,
        validation_alias=AliasChoices(
            "ALPACA_TRADING_BASE_URL", "APCA_API_BASE_URL", "alpaca_trading_url"
        ),
        description="Alpaca's trading API (the assets list); the paper endpoint by default",
    )
    alpaca_feed: Literal["iex", "sip", "delayed_sip", "boats", "overnight", "otc"] = Field(
        default="iex", validation_alias=AliasChoices("ALPACA_FEED", "alpaca_feed")
    )
    alpaca_timeout_s: float = Field(
        default=30.0, validation_alias=AliasChoices("ALPACA_TIMEOUT_S", "alpaca_timeout_s")
    )
    iex_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("IEX_TOKEN", "iex_token")
    )
    queue_url: str | None = Field(
        default=None, validation_alias=AliasChoices("STOCKDB_QUEUE_URL", "queue_url")
    )
    state_url: str | None = Field(
        default=None, validation_alias=AliasChoices("STOCKDB_STATE_URL", "state_url")
    )
    api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("STOCKDB_API_URL", "api_url")
    )  # the REST API the dashboard talks to (default: stockdb.ui.DEFAULT_API_URL)
    otel_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "otel_endpoint"),
    )
    api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("STOCKDB_API_TOKEN", "api_token")
    )
    allowed_hosts: str = Field(
        default="",
        validation_alias=AliasChoices("STOCKDB_ALLOWED_HOSTS", "allowed_hosts"),
        description="Extra Host names the API serves, comma-separated (* for any)",
    )
    duckdb_memory_limit: str = Field(
        default="2GB",
        validation_alias=AliasChoices("STOCKDB_DUCKDB_MEMORY_LIMIT", "duckdb_memory_limit"),
    )
    duckdb_threads: int = Field(
        default=2, ge=1, validation_alias=AliasChoices("STOCKDB_DUCKDB_THREADS", "duckdb_threads")
    )
    source_duckdb_path: Path | None = Field(
        default=None, validation_alias=AliasChoices("SOURCE_DUCKDB_PATH", "source_duckdb_path")
    )
    dest_duckdb_path: Path | None = Field(
        default=None, validation_alias=AliasChoices("DEST_DUCKDB_PATH", "dest_duckdb_path")
    )
    dest_parquet_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("DEST_PARQUET_DIR", "dest_parquet_dir")
    )
    log_level: str = Field(
        default="INFO", validation_alias=AliasChoices("STOCKDB_LOG_LEVEL", "log_level")
    )

    @field_validator("alpaca_base_url", "alpaca_trading_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def has_alpaca_keys(self) -> bool:
        """True when both halves of an Alpaca key pair are configured."""
        return bool(
            self.alpaca_key_id
            and self.alpaca_secret_key
            and self.alpaca_key_id.get_secret_value()
            and self.alpaca_secret_key.get_secret_value()
        )

    def placeholder_key_problem(self) -> str | None:
        """A one-line explanation when an Alpaca key still holds a placeholder (for example
        copied unchanged from .env.example); None when the keys look real or are unset."""
        names = [
            name
            for name, secret in (
                ("ALPACA_API_KEY_ID", self.alpaca_key_id),
                ("ALPACA_API_SECRET_KEY", self.alpaca_secret_key),
            )
            if secret is not None and looks_like_placeholder(secret.get_secret_value())
        ]
        if not names:
            return None
        return (
            f"{' and '.join(names)} still hold{'s' if len(names) == 1 else ''} a placeholder "
            "(copied from .env.example?): put your real Alpaca keys in .env, or comment the "
            "lines out to use synthetic data"
        )

    def startup_notices(self) -> list[str]:
        """Lines every command prints once when it starts (IEX_TOKEN set on its own)."""
        notices = []
        if self.iex_token is not None and self.iex_token.get_secret_value():
            notices.append(IEX_CLOUD_NOTICE)
        return notices

    @property
    def queue_is_redis(self) -> bool:
        """True when ``STOCKDB_QUEUE_URL`` names a Redis server (the one place that decides)."""
        return (self.queue_url or "").strip().lower().startswith(REDIS_SCHEMES)

    @property
    def writers_span_hosts(self) -> bool:
        """True when writers may run on several hosts: a Redis queue or a PostgreSQL store."""
        return self.queue_is_redis or (self.state_url or "").startswith("postgresql")

    @property
    def allowed_host_names(self) -> tuple[str, ...]:
        """STOCKDB_ALLOWED_HOSTS split on commas (the API also serves localhost names)."""
        return tuple(h.strip() for h in self.allowed_hosts.split(",") if h.strip())

    @property
    def parquet_dir(self) -> Path:
        """Root of the bars lake."""
        return self.data_dir / "parquet"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    @property
    def features_dir(self) -> Path:
        """Root of the feature store (``DEST_PARQUET_DIR`` overrides it)."""
        return self.dest_parquet_dir or self.data_dir / "features"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def simulations_dir(self) -> Path:
        return self.data_dir / "simulations"

    @property
    def duckdb_path(self) -> Path:
        """The browsing database of views (``DEST_DUCKDB_PATH`` overrides it)."""
        return self.dest_duckdb_path or self.data_dir / "duckdb" / "market.duckdb"

    @property
    def state_database_url(self) -> str:
        """SQLAlchemy URL of the state store; SQLite under the data dir unless overridden."""
        if self.state_url:
            url = self.state_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite:///{(self.state_dir / 'stockdb.sqlite').resolve()}"
