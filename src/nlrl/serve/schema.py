"""Request bodies, after OpenAI's schema. Types are strict (``"5"`` is not an integer), unknown
top-level fields are ignored as OpenAI ignores them, unknown fields inside ``nlrl`` are refused
(a misspelt option should not pass silently)."""

from __future__ import annotations

from typing import List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

_SEED_MAX = 2**31 - 1  # llama.cpp seeds are 32-bit; a strategy adds the sample index


class NlrlOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    strategy: Optional[str] = Field(None, max_length=64)
    n: Optional[int] = Field(None, ge=1)
    max_total_tokens: Optional[int] = Field(None, ge=1)
    reward: Optional[str] = Field(None, max_length=64)
    return_trace: bool = False
    domain: Optional[Literal["math", "coding", "commonsense"]] = None
    difficulty: Optional[Literal["easy", "medium", "hard"]] = None
    adaptive: Optional[bool] = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    include_usage: bool = False


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: Union[str, List[ContentPart], None] = None
    name: Optional[str] = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)

    model: Optional[str] = Field(None, max_length=512)
    max_tokens: Optional[int] = Field(None, ge=1)
    temperature: Optional[float] = Field(None, ge=0, le=2)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    seed: Optional[int] = Field(None, ge=0, le=_SEED_MAX)
    stop: Union[str, List[str], None] = None
    n: int = Field(1, ge=1)
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    user: Optional[str] = None
    nlrl: Optional[NlrlOptions] = None

    def stops(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatRequest(_Common):
    messages: List[Message] = Field(..., min_length=1)
    max_completion_tokens: Optional[int] = Field(None, ge=1)
    logprobs: Optional[bool] = None
    top_logprobs: Optional[int] = Field(None, ge=0, le=20)

    def token_limit(self) -> Optional[int]:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def wants_logprobs(self) -> bool:
        return bool(self.logprobs)


class CompletionRequest(_Common):
    prompt: Union[str, List[str]]
    logprobs: Optional[int] = Field(None, ge=0, le=5)
    echo: bool = False

    def token_limit(self) -> Optional[int]:
        return self.max_tokens

    def prompts(self) -> list[str]:
        return [self.prompt] if isinstance(self.prompt, str) else list(self.prompt)

    def wants_logprobs(self) -> bool:
        return self.logprobs is not None
