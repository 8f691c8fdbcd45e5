"""Settings from (lowest to highest priority) defaults, a TOML config file, ``NLRL_*``
environment variables and explicit arguments (the CLI's flags).

The config file is ``$NLRL_CONFIG`` if set, else ``./nlrl.toml`` if it exists::

    backend = "openai"
    base_url = "http://127.0.0.1:8000/v1"
    run_dir = "/data/nlrl"

``run_dir`` holds the log (``nlrl.log``) and the completion cache; it defaults to the user's cache
directory (:func:`default_run_dir`: ``~/.cache/nlrl`` on Linux), never the working directory.
``nlrl bench`` also logs into its ``--out`` directory.

Settings are passed explicitly to what needs them; there is no global configuration object.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from ._exceptions import ConfigError


def read_yaml(path: str | os.PathLike[str], what: str) -> Any:
    """The data in the YAML file at ``path``; a file that cannot be read or parsed is a one-line
    :class:`ConfigError` naming ``what`` it is (``"sweep spec"``, ``"prompt file"``)."""
    import yaml

    p = Path(path)
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {p} is not valid YAML: {str(exc).splitlines()[0]}") from None


def default_run_dir() -> Path:
    """The user's cache directory for nlrl, as platformdirs names it (``~/.cache/nlrl`` on Linux,
    ``~/Library/Caches/nlrl`` on macOS, ``%LOCALAPPDATA%\\nlrl\\Cache`` on Windows)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("nlrl", appauthor=False))


def _config_file() -> Path | None:
    env = os.environ.get("NLRL_CONFIG")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"NLRL_CONFIG points to {p}, which is not a file")
        return p
    p = Path("nlrl.toml")
    return p if p.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NLRL_", extra="ignore")

    backend: str = "embedded"
    model: Optional[str] = None
    base_url: Optional[str] = None
    strategy: str = "cot"
    n: int = 1
    max_tokens: int = 384
    temperature: Optional[float] = None
    seed: Optional[int] = None
    n_ctx: int = 4096
    threads: Optional[int] = None  # embedded engine threads; default: one per core
    device: str = "auto"  # hf: auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # hf: auto | float32 | bfloat16 | float16
    decode: str = "auto"  # hf: auto | eager | static | graph (see docs/backends.md)
    compile: bool = False  # hf: compile the decode step with torch.compile before graph capture
    chat: bool = False
    run_dir: Path = Field(default_factory=default_run_dir)
    data_dir: Optional[Path] = None
    log_level: str = "INFO"

    @field_validator("threads")
    @classmethod
    def _threads(cls, v: Optional[int]) -> Optional[int]:
        if v is not None and v < 1:
            raise ValueError(f"must be an integer >= 1, got {v}")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if not isinstance(logging.getLevelName(v), int):
            raise ValueError(f"unknown log level {v!r}")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Settings with ``overrides`` (None values ignored) on top of file and environment."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        raise ConfigError(f"invalid setting {where}: {err['msg']}") from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read config: {exc}") from None


def setup_logging(run_dir: Path | str, level: str = "INFO") -> Path:
    """Log nlrl's records to ``run_dir/nlrl.log`` (created); returns the log file's path."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create run directory {run_dir}: {exc.strerror or exc}") from None
    path = run_dir / "nlrl.log"
    logger = logging.getLogger("nlrl")
    logger.setLevel(level)
    if _handler(path) is None:
        try:
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write the log file {path}: {exc.strerror or exc}") from None
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    return path


def start_logging(settings: Settings) -> Path | None:
    """:func:`setup_logging` into ``settings.run_dir``. A run directory the user chose (flag,
    ``NLRL_RUN_DIR``, nlrl.toml) that cannot be written is an error; the default one (a home
    without a writable cache, as for a service account) only means no log file: None."""
    try:
        return setup_logging(settings.run_dir, settings.log_level)
    except ConfigError:
        if "run_dir" in settings.model_fields_set:
            raise
        logging.getLogger("nlrl").setLevel(settings.log_level)
        return None


def stop_logging(path: Path | str) -> None:
    """Detach and close the handler :func:`setup_logging` added for the log file ``path``."""
    handler = _handler(Path(path))
    if handler is not None:
        logging.getLogger("nlrl").removeHandler(handler)
        handler.close()


def _handler(path: Path) -> logging.FileHandler | None:
    target = path.resolve()
    for h in logging.getLogger("nlrl").handlers:
        if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == target:
            return h
    return None
