"""What a server allows: its strategy default, keys and limits (the CLI's flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .._exceptions import ConfigError


@dataclass(frozen=True)
class ServeConfig:
    strategy: str = "cot"
    #: names the served model answers to (the first is the default); the backend's own is added
    model_names: tuple[str, ...] = ()
    api_keys: tuple[str, ...] = ()
    samples: int = 4             # the budget's n when neither the request nor the model prefix says
    max_tokens: int = 256        # per completion when the request does not say
    max_concurrency: int = 1
    max_queue: int = 16
    max_body_bytes: int = 1 << 20
    max_n: int = 8               # OpenAI's n: independent answers per request
    max_samples: int = 32        # nlrl.n: samples / width / rounds per run
    max_tokens_cap: int = 4096
    max_total_tokens_cap: int = 65536
    max_prompts: int = 16        # /v1/completions with a list of prompts
    retry_after_s: int = 1
    run_dir: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("samples", "max_tokens", "max_concurrency", "max_body_bytes", "max_n", "max_samples",
                     "max_tokens_cap", "max_total_tokens_cap", "max_prompts", "retry_after_s"):
            if getattr(self, name) < 1:
                raise ConfigError(f"serve setting {name} must be >= 1, got {getattr(self, name)}")
        if self.max_queue < 0:
            raise ConfigError(f"serve setting max_queue must be >= 0, got {self.max_queue}")
        if any(not k or k != k.strip() for k in self.api_keys):
            raise ConfigError("an API key is empty or has surrounding whitespace")


def read_keys(api_key: str | None = None, key_file: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """Keys from ``--api-key`` (or ``NLRL_API_KEY``) and a file of one key a line (``#`` comments)."""
    keys: list[str] = []
    key = api_key if api_key is not None else os.environ.get("NLRL_API_KEY")
    if key:
        keys.append(key.strip())
    if key_file is not None:
        try:
            lines = Path(key_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read API key file {key_file}: {exc}") from None
        found = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if not found:
            raise ConfigError(f"API key file {key_file} holds no keys")
        keys += found
    return tuple(dict.fromkeys(keys))
