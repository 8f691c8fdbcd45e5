"""A learned verifier: the outcome value of NLRL, fitted to graded returns.

``nlrl train-reward RUN_DIR... --out reward.npz`` reads benchmark runs (``results.jsonl``: every
sampled completion is a ``sample`` event of its row's trace), grades each sample with the
row's checker against its reference, and fits a logistic regression (scikit-learn, the
``learn`` extra) on

* the model's own representation of ``question + sample``: its hidden states, mean-pooled by
  llama.cpp (:meth:`Backend.embed <nlrl.backends.Backend.embed>`), L2-normalised; and
* cheap features: the sample's mean and minimum token log-probability, its length, the share
  of the row's samples giving the same answer, whether it has an answer, the answer's length.

The ``.npz`` holds the weights, the feature spec and the model's fingerprint (its name and the
embedding of a fixed probe text); :class:`LearnedReward` (``--reward learned:reward.npz``)
refuses to score with a backend whose model embeds differently (:class:`~nlrl.ConfigError`).

At inference the strategy hands the reward each sample's log-probabilities and its siblings
(:meth:`LearnedReward.observe`), as it does for the log-probability and agreement rewards;
``needs_logprobs`` says the samples must be drawn with them.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .._exceptions import ConfigError, VerifierError
from ..verifiers.math import answers_equivalent, extract_math_answer
from .base import Observed, RewardModel, observed

log = logging.getLogger(__name__)

FORMAT = "nlrl-learned-verifier/1"
#: the cheap features, in the order they are stacked
CHEAP: tuple[str, ...] = ("mean_logprob", "min_logprob", "log_tokens", "agreement", "has_answer", "answer_chars")
_LOGPROB = frozenset({"mean_logprob", "min_logprob"})
PROBE_TEXT = "Question: What is 2 + 3?\nAnswer: 2 + 3 = 5.\nFinal Answer: 5"
TEMPLATE = "Question: {question}\nAnswer: {output}"
#: cosine similarity below which the probe embedding says "another model"
SAME_MODEL_COSINE = 0.999


@dataclass(frozen=True)
class SampleView:
    """What the features of one sample are computed from."""

    question: str
    text: str
    answer: str | None
    tokens: int
    mean_logprob: float | None
    min_logprob: float | None
    agreement: float

    @classmethod
    def of(cls, question: str, text: str, answer: str | None, tokens: int,
           logprobs: Sequence[float] | None, agreement: float) -> "SampleView":
        lps = list(logprobs or ())
        return cls(question, text, answer, tokens, math.fsum(lps) / len(lps) if lps else None,
                   min(lps) if lps else None, agreement)


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a verifier reads: cheap ones by name, and the embedding's size (0: none)."""

    cheap: tuple[str, ...] = CHEAP
    embedding_dim: int = 0
    template: str = TEMPLATE

    def __post_init__(self) -> None:
        unknown = [c for c in self.cheap if c not in CHEAP]
        if unknown:
            raise ConfigError(f"unknown verifier features {unknown}; known: {', '.join(CHEAP)}")

    @property
    def needs_logprobs(self) -> bool:
        return any(c in _LOGPROB for c in self.cheap)

    @property
    def size(self) -> int:
        return len(self.cheap) + self.embedding_dim

    def to_dict(self) -> dict[str, Any]:
        return {"cheap": list(self.cheap), "embedding_dim": self.embedding_dim, "template": self.template}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FeatureSpec":
        return cls(tuple(d["cheap"]), int(d["embedding_dim"]), str(d.get("template", TEMPLATE)))


def cheap_features(spec: FeatureSpec, s: SampleView) -> list[float]:
    if spec.needs_logprobs and s.mean_logprob is None and s.tokens > 0:
        raise VerifierError("this verifier reads token log-probabilities; the sample has none "
                            "(draw it with logprobs=True)")
    values = {
        "mean_logprob": s.mean_logprob or 0.0,
        "min_logprob": s.min_logprob or 0.0,
        "log_tokens": math.log1p(max(0, s.tokens)),
        "agreement": s.agreement,
        "has_answer": 0.0 if s.answer is None else 1.0,
        "answer_chars": math.log1p(len(s.answer or "")),
    }
    return [float(values[c]) for c in spec.cheap]


def embeddings(backend: Any, texts: Sequence[str]) -> np.ndarray:
    """The backend's mean-pooled embeddings of ``texts``, L2-normalised (one row per text)."""
    if not texts:
        return np.zeros((0, 0))
    vecs = np.asarray(backend.embed(list(texts)), dtype=np.float64)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.where(norms > 0, norms, 1.0)


def featurize(spec: FeatureSpec, samples: Sequence[SampleView], backend: Any = None,
              embedded: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """The feature matrix of ``samples`` (``embedded``: embeddings already computed, by text)."""
    cheap = np.array([cheap_features(spec, s) for s in samples], dtype=np.float64).reshape(len(samples), -1)
    if not spec.embedding_dim:
        return cheap
    texts = [spec.template.format(question=s.question, output=s.text.strip()) for s in samples]
    have = dict(embedded or {})
    todo = [t for t in dict.fromkeys(texts) if t not in have]
    if todo:
        if backend is None or not backend.supports_embeddings:
            raise ConfigError("this verifier reads the model's embeddings; the backend cannot embed text")
        have.update(zip(todo, embeddings(backend, todo)))
    emb = np.stack([have[t] for t in texts]) if texts else np.zeros((0, spec.embedding_dim))
    if emb.shape[1] != spec.embedding_dim:
        raise ConfigError(f"the backend's embeddings have {emb.shape[1]} dimensions; this verifier "
                          f"was trained on {spec.embedding_dim}")
    return np.hstack([cheap, emb])


def fingerprint(backend: Any, spec: FeatureSpec) -> dict[str, Any]:
    """What identifies the model for this spec: its name and, with embeddings, its probe vector."""
    fp: dict[str, Any] = {"model": str(backend.model_name)}
    if spec.embedding_dim:
        fp["probe"] = embeddings(backend, [PROBE_TEXT])[0].round(6).tolist()
    return fp


def same_model(saved: Mapping[str, Any], backend: Any, spec: FeatureSpec) -> str | None:
    """None when ``backend`` is the model ``saved`` describes, else why not."""
    if not spec.embedding_dim:  # only the name can tell
        name = str(backend.model_name)
        return None if name == saved.get("model") else f"trained with model {saved.get('model')!r}, not {name!r}"
    if not backend.supports_embeddings:
        return f"backend {backend.name} cannot embed text; this verifier reads embeddings"
    mine = embeddings(backend, [PROBE_TEXT])[0]
    theirs = np.asarray(saved["probe"], dtype=np.float64)
    if mine.shape != theirs.shape:
        return f"embeddings of {mine.shape[0]} dimensions, trained on {theirs.shape[0]}"
    cos = float(mine @ theirs / max(np.linalg.norm(mine) * np.linalg.norm(theirs), 1e-12))
    if cos < SAME_MODEL_COSINE:
        return (f"the model embeds differently from the one it was trained with ({saved.get('model')!r}; "
                f"probe cosine {cos:.4f})")
    return None


# ---- the fitted model ---------------------------------------------------------------------------

@dataclass(frozen=True)
class LearnedVerifier:
    """Standardised features -> logistic regression -> P(correct)."""

    spec: FeatureSpec
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    model: Mapping[str, Any]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = ((np.asarray(X, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        header = {"format": FORMAT, "spec": self.spec.to_dict(), "model": dict(self.model), "meta": dict(self.meta)}
        try:
            with open(p, "wb") as fh:  # np.savez would append .npz to a name without it
                np.savez(fh, header=np.array(json.dumps(header)), mean=self.mean, scale=self.scale,
                         coef=self.coef, intercept=np.array([self.intercept]))
        except OSError as exc:
            raise ConfigError(f"cannot write {p}: {exc.strerror or exc}") from exc
        return p

    @classmethod
    def load(cls, path: str | Path) -> "LearnedVerifier":
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                arrays = {k: np.asarray(z[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept")}
        except FileNotFoundError:
            raise ConfigError(f"learned verifier {p} not found") from None
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{p} is not a learned verifier file: {exc}") from None
        if header.get("format") != FORMAT:
            raise ConfigError(f"{p} is not a learned verifier file (format {header.get('format')!r})")
        spec = FeatureSpec.from_dict(header["spec"])
        if not arrays["coef"].shape == arrays["mean"].shape == arrays["scale"].shape == (spec.size,):
            raise ConfigError(f"{p}: weights do not match its feature spec ({spec.size} features)")
        return cls(spec, arrays["mean"], arrays["scale"], arrays["coef"], float(arrays["intercept"][0]),
                   header["model"], header.get("meta") or {})


def fit(X: np.ndarray, y: Sequence[int], spec: FeatureSpec, model: Mapping[str, Any], *,
        C: float | None = None, meta: Mapping[str, Any] | None = None) -> LearnedVerifier:
    """Fit the logistic regression (C by 5-fold cross-validated AUC unless given)."""
    try:
        from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    except ImportError as exc:
        raise ConfigError("training a learned verifier needs scikit-learn: pip install 'nlrl[learn]'") from exc
    X = np.asarray(X, dtype=np.float64)
    y_arr = np.asarray(y, dtype=int)
    if X.ndim != 2 or X.shape[0] != len(y_arr) or X.shape[1] != spec.size:
        raise ConfigError(f"features are {X.shape}, expected ({len(y_arr)}, {spec.size})")
    pos = int(y_arr.sum())
    if pos == 0 or pos == len(y_arr):
        raise ConfigError(f"the training samples are all {'right' if pos else 'wrong'} ({len(y_arr)} of them): "
                          "a verifier needs both kinds")
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    Z = (X - mean) / scale
    folds = min(5, pos, len(y_arr) - pos)
    if C is None and folds >= 2:
        clf: Any = LogisticRegressionCV(Cs=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], cv=folds, scoring="roc_auc",
                                        class_weight="balanced", max_iter=2000)
    else:
        clf = LogisticRegression(C=C or 0.1, class_weight="balanced", max_iter=2000)
    with warnings.catch_warnings():  # scikit-learn's notices of changing defaults, not about this fit
        warnings.simplefilter("ignore", FutureWarning)
        clf.fit(Z, y_arr)
    chosen = float(np.ravel(getattr(clf, "C_", [C or 0.1]))[0])
    info: dict[str, Any] = {"samples": int(len(y_arr)), "positives": pos, "C": chosen}
    scores = getattr(clf, "scores_", None)
    if scores:  # cross-validated AUC at the chosen C (mean over folds)
        folds_by_c = np.asarray(next(iter(scores.values())), dtype=np.float64)
        info["cv_auc"] = round(float(folds_by_c.mean(axis=0).max()), 4)
    info.update(meta or {})
    return LearnedVerifier(spec, mean, scale, clf.coef_[0].astype(np.float64), float(clf.intercept_[0]),
                           dict(model), info)


def roc_auc(scores: Sequence[float], labels: Sequence[int | bool]) -> float | None:
    """Area under the ROC curve (ties count half); None when one class is absent."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return None
    # rank-sum (Mann-Whitney U) with average ranks for ties
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[y].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))


# ---- training data from benchmark runs ----------------------------------------------------------

@dataclass(frozen=True)
class LabelledSample:
    view: SampleView
    correct: bool
    row: str  # "<run dir>#<record id>": samples of one question share it


def agreement_shares(answers: Sequence[str | None], equivalent: Callable[[str, str], bool]) -> list[float]:
    """For each answer, the share of ``answers`` equivalent to it (0 for no answer)."""
    out = []
    for a in answers:
        if a is None:
            out.append(0.0)
        else:
            out.append(sum(1 for b in answers if b is not None and equivalent(a, b)) / len(answers))
    return out


def _rows(run_dir: Path) -> Iterable[dict[str, Any]]:
    path = run_dir / "results.jsonl"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{run_dir} is not a benchmark run (cannot read {path.name}: {exc.strerror or exc})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: invalid JSON ({exc.msg})") from None


def samples_from_runs(run_dirs: Sequence[str | Path], *, backend: Any = None,
                      logprobs: bool = True) -> list[LabelledSample]:
    """Every sampled completion in the runs, graded by its row's checker against its reference.

    Log-probabilities come from the sample events (strategies that draw with them record
    ``mean_logprob``/``min_logprob``) or, failing that, from ``backend.score_text`` given the
    row's prompt; with ``logprobs=False`` they are not read.
    """
    from ..verifiers import get_verifier

    verifiers: dict[str, Any] = {}
    out: list[LabelledSample] = []
    for d in run_dirs:
        run_dir = Path(d)
        for row in _rows(run_dir):
            events = [e for e in row.get("trace") or () if e.get("kind") == "sample"]
            if not events or row.get("error"):
                continue
            checker = row["checker"]
            if checker not in verifiers:
                verifiers[checker] = get_verifier(checker)
            question = row["prompt"]
            answers = [e.get("answer") for e in events]
            shares = agreement_shares(answers, answers_equivalent)
            for e, answer, share in zip(events, answers, shares):
                data = e  # an event's fields sit beside its kind and text
                text = e.get("text") or ""
                try:
                    verdict = verifiers[checker].check(text if answer is None or checker in ("code", "stdio")
                                                       else f"Final Answer: {answer}", row["reference"])
                except VerifierError as exc:
                    log.warning("cannot grade a sample of %s in %s: %s", row.get("id"), run_dir, exc)
                    continue
                mean_lp = min_lp = None
                if logprobs:
                    mean_lp, min_lp = _logprobs_of(data, text, row, backend)
                out.append(LabelledSample(
                    SampleView(question, text, answer, int(data.get("tokens") or 0), mean_lp, min_lp, share),
                    bool(verdict.correct), f"{run_dir}#{row.get('id')}"))
    return out


def _logprobs_of(data: Mapping[str, Any], text: str, row: Mapping[str, Any], backend: Any) -> tuple[float, float]:
    """(mean, min) token log-probability of a sample."""
    if data.get("mean_logprob") is not None:
        return float(data["mean_logprob"]), float(data.get("min_logprob", data["mean_logprob"]))
    scorer = getattr(backend, "score_text", None)
    prompt = row.get("dynamic_prompt")
    if not callable(scorer) or not prompt:
        raise ConfigError("the run's samples carry no log-probabilities and the backend cannot score text: "
                          "train without log-probability features (--no-logprobs) or use the embedded backend")
    lps = [float(x) for x in scorer(prompt, text)] or [0.0]
    return math.fsum(lps) / len(lps), min(lps)


def train(run_dirs: Sequence[str | Path], backend: Any, *, embed: bool | None = None, logprobs: bool = True,
          C: float | None = None) -> LearnedVerifier:
    """Fit a verifier on every graded sample of ``run_dirs`` (features from ``backend``).

    ``embed=None`` (default) fits with and without the model's embeddings, when the backend can
    embed, and keeps the one with the higher cross-validated AUC (``meta["selection"]`` has
    both); ``True`` / ``False`` force the choice.
    """
    data = samples_from_runs(run_dirs, backend=backend, logprobs=logprobs)
    if not data:
        raise ConfigError("no sampled completions in " + ", ".join(map(str, run_dirs))
                          + " (a run of a sampling strategy records them in its trace)")
    cheap = CHEAP if logprobs else tuple(c for c in CHEAP if c not in _LOGPROB)
    can_embed = backend is not None and backend.supports_embeddings
    if embed and not can_embed:
        log.warning("the backend cannot embed text: training on the cheap features only")
    views = [s.view for s in data]
    y = [int(s.correct) for s in data]
    meta = {"runs": [str(d) for d in run_dirs], "questions": len({s.row for s in data})}
    dims = [0]
    if can_embed and embed is not False:
        dim = int(embeddings(backend, [PROBE_TEXT]).shape[1])
        dims = [dim] if embed else [0, dim]
    fitted = []
    for dim in dims:
        spec = FeatureSpec(cheap, dim)
        X = featurize(spec, views, backend)
        fitted.append(fit(X, y, spec, fingerprint(backend, spec) if backend is not None else {"model": "unknown"},
                          C=C, meta=meta))
    if len(fitted) == 1:
        return fitted[0]
    best = max(fitted, key=lambda v: v.meta.get("cv_auc", 0.0))
    selection = {"cheap_cv_auc": fitted[0].meta.get("cv_auc"), "embedding_cv_auc": fitted[1].meta.get("cv_auc"),
                 "kept": "embeddings + cheap" if best.spec.embedding_dim else "cheap"}
    return LearnedVerifier(best.spec, best.mean, best.scale, best.coef, best.intercept, best.model,
                           {**best.meta, "selection": selection})


# ---- the reward -----------------------------------------------------------------------------------

_LOADED: dict[tuple[str, float], LearnedVerifier] = {}
_LOCK = threading.Lock()


def _load_cached(path: str | Path) -> LearnedVerifier:
    p = Path(path)
    try:
        key = (str(p.resolve()), p.stat().st_mtime)
    except OSError:
        raise ConfigError(f"learned verifier {p} not found") from None
    with _LOCK:
        if key not in _LOADED:
            _LOADED[key] = LearnedVerifier.load(p)
        return _LOADED[key]


class LearnedReward(RewardModel):
    """P(correct) from a verifier trained by ``nlrl train-reward`` (``learned:<file.npz>``).

    Refuses (:class:`~nlrl.ConfigError`) a backend whose model is not the one it was trained
    with. ``observe(prompt, samples)`` hands over the samples of a prompt as ``(text, logprobs)``
    pairs: their log-probabilities and their answers (for the agreement feature).
    """

    name = "learned"

    def __init__(self, path: str | Path | LearnedVerifier, *, backend: Any = None,
                 extract: Callable[[str], str | None] = extract_math_answer,
                 equivalent: Callable[[str, str], bool] = answers_equivalent, check_model: bool = True,
                 cache_size: int = 8192) -> None:
        self.verifier = path if isinstance(path, LearnedVerifier) else _load_cached(path)
        self.backend = backend
        self.extract = extract
        self.equivalent = equivalent
        spec = self.verifier.spec
        if spec.embedding_dim and backend is None:
            raise ConfigError("this learned verifier reads the model's embeddings: it needs a backend")
        if check_model and backend is not None:
            why = _checked_model(self.verifier, backend)
            if why:
                raise ConfigError(f"learned verifier does not fit this model: {why}")
        self._logprobs: OrderedDict[str, tuple[float, ...]] = OrderedDict()
        self._siblings: dict[str, list[str | None]] = {}
        self._cache_size = cache_size
        # embeddings are a function of the model and the text: shared by every reward of a backend
        self._embedded = _embedding_cache(backend)

    @property
    def needs_logprobs(self) -> bool:
        return self.verifier.spec.needs_logprobs

    def observe(self, prompt: str, samples: Sequence[Observed]) -> None:
        """The samples drawn for ``prompt`` so far (texts, ``(text, logprobs)`` pairs or samples)."""
        samples = observed(samples)
        self._siblings[prompt] = [self.extract(text) for text, _ in samples]
        for text, lps in samples:
            if lps:
                key = text.strip()
                self._logprobs[key] = tuple(float(x) for x in lps)
                self._logprobs.move_to_end(key)
        while len(self._logprobs) > self._cache_size:
            self._logprobs.popitem(last=False)

    def view(self, prompt: str, output: str) -> SampleView:
        answer = self.extract(output)
        siblings = self._siblings.get(prompt)
        if siblings:
            share = (sum(1 for b in siblings if b is not None and self.equivalent(answer, b)) / len(siblings)
                     if answer is not None else 0.0)
        else:
            share = 1.0 if answer is not None else 0.0  # alone, a sample agrees with itself
        lps = self._logprobs.get(output.strip())
        tokens = len(lps) if lps else (self.backend.count_tokens(output) if self.backend is not None else None)
        return SampleView.of(prompt, output, answer, int(tokens or len(output.split())), lps, share)

    def score(self, prompt: str, output: str) -> float:
        v = self.view(prompt, output)
        spec = self.verifier.spec
        X = featurize(spec, [v], self.backend, self._embedded)
        if spec.embedding_dim:
            key = spec.template.format(question=prompt, output=output.strip())
            with _LOCK:
                self._embedded[key] = X[0, len(spec.cheap):]
                while len(self._embedded) > self._cache_size:
                    self._embedded.popitem(last=False)
        return float(self.verifier.predict(X)[0])

    def score_steps(self, prompt: str, steps: list[str]) -> list[float]:
        """Beam search's view: each prefix of the steps scored as an answer so far (the value of a
        partial solution; the verifier was trained on whole ones). A prefix's log-probabilities
        are its steps' observed ones, concatenated."""
        out = []
        for i in range(len(steps)):
            text = "\n".join(s.strip() for s in steps[: i + 1])
            known = [self._logprobs.get(s.strip()) for s in steps[: i + 1]]
            if text not in self._logprobs and all(known):
                self._logprobs[text] = tuple(x for lps in known for x in lps)  # type: ignore[union-attr]
            out.append(self.score(prompt, text))
        return out


_EMBEDDED: dict[int, tuple[Any, OrderedDict[str, np.ndarray]]] = {}
_CHECKED: dict[tuple[int, int], tuple[Any, str | None]] = {}


def _engine(backend: Any) -> Any:
    """The backend under any wrappers (a run's meter, a cache): what computes the embeddings."""
    from ..backends.base import WrappedBackend

    while isinstance(backend, WrappedBackend):
        backend = backend.inner
    return backend


def _embedding_cache(backend: Any) -> OrderedDict[str, np.ndarray]:
    engine = _engine(backend)
    with _LOCK:  # the engine is kept in the entry, so its id is not reused while cached
        return _EMBEDDED.setdefault(id(engine), (engine, OrderedDict()))[1]


def _checked_model(verifier: LearnedVerifier, backend: Any) -> str | None:
    """:func:`same_model`, once per verifier and engine: the probe embedding costs a call."""
    engine = _engine(backend)
    key = (id(verifier), id(engine))
    with _LOCK:
        if key in _CHECKED:
            return _CHECKED[key][1]
    why = same_model(verifier.model, backend, verifier.spec)
    with _LOCK:
        _CHECKED[key] = (engine, why)
    return why


def learned_reward(path: str | None = None, *, backend: Any = None, **options: Any) -> LearnedReward:
    """The reward named by ``learned:<path>`` (registered in :mod:`nlrl.rewards.registry`)."""
    if not path:
        raise ConfigError("the learned reward needs a file: learned:<path/to/reward.npz>")
    return LearnedReward(path, backend=backend, **options)
