"""Every error nlrl raises on purpose derives from :class:`NLRLError`.

::

    NLRLError
    ├── ConfigError            bad settings, parameters or names
    │   └── UnknownNameError   a registry lookup failed (lists the known names)
    ├── PromptError            empty, too long or undecodable prompt
    ├── BackendError           an engine or server failed (provider, status, retry_after)
    │   ├── ModelLoadError     a model file is missing or corrupt
    │   ├── BackendConnectionError   unreachable server, timeout, cut stream
    │   └── BackendResponseError     the server answered, but not usefully
    ├── VerifierError          a grader could not run
    ├── DatasetError           a data file is missing or malformed (path, line)
    ├── RunStoreError          a run directory cannot be used as asked
    ├── ExecutorError          a distributed executor cannot run (Ray missing, cluster lost)
    └── ParseError             a model answer did not parse (GPI's strict JSON)

The CLI maps every NLRLError to a one-line message and exit code 1.
"""

from __future__ import annotations


class NLRLError(Exception):
    """Base class of every error nlrl raises on purpose."""


class ConfigError(NLRLError, ValueError):
    """A setting, parameter or name is invalid."""


class UnknownNameError(ConfigError, KeyError):
    """A registry has no entry of that name."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, list(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class PromptError(NLRLError, ValueError):
    """The prompt cannot be used (empty, longer than the context, not UTF-8)."""


class BackendError(NLRLError):
    """A backend failed; carries what retry logic needs."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.retryable = retryable


class ModelLoadError(BackendError):
    """A model file is missing, unreadable or not a model."""


class BackendConnectionError(BackendError):
    """The server could not be reached, timed out or cut the stream."""


class BackendResponseError(BackendError):
    """The server answered with an error or with something that is not a valid response."""


class VerifierError(NLRLError):
    """A grader could not run (as opposed to a candidate failing)."""


class DatasetError(NLRLError, ValueError):
    """A data file is missing or malformed."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(where + message)
        self.path, self.line = path, line


class RunStoreError(NLRLError):
    """A run directory cannot be used as asked (e.g. it holds another configuration)."""


class ExecutorError(NLRLError):
    """A distributed executor cannot run: its extra is missing, the cluster cannot be reached,
    or every worker was lost. Finished samples are kept; the same command resumes."""


class ParseError(NLRLError, ValueError):
    """A model's answer did not parse into the structure asked for."""

    def __init__(self, message: str, *, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw
