"""DeepConf: confidence-pruned, confidence-weighted voting (Fu et al. 2025, "Deep Think with
Confidence", arXiv 2508.15260).

Every sampled chain of thought gets a confidence read from its own token log-probabilities:

* **token confidence.** The paper's is ``C_i = -(1/k) * sum_j log P_i(j)`` over the top-k
  candidate tokens at position i. nlrl's backends return only the *chosen* token's
  log-probability (``Completion.logprobs``, ``TokenEvent.logprob``; no top-k lists), and with
  k = 1 the paper's formula inverts (a sure token has log-prob near 0, so a low score). The
  approximation used here is the chosen token's probability: ``c_i = log p(token_i)``;
* **group confidence** over a sliding window of ``window`` tokens:
  ``C_G = exp(mean of c_i over the window)``, the window's geometric-mean token probability, in
  (0, 1] and monotone in the paper's quantity for a peaked distribution. A trace shorter than
  the window has one group, the whole trace;
* **trace confidence**: the *lowest* group confidence of the trace (the paper's "lowest group
  confidence", the signal its online mode stops on).

Two modes:

* ``online``: ``warmup`` samples are generated in full; the stopping threshold ``s`` is the
  ``100 - eta`` percentile of their trace confidences (``eta=10`` keeps the top 10%: DeepConf-low,
  aggressive; ``eta=90``: DeepConf-high, conservative). The remaining samples are generated with a
  streaming callback that ends a sample (the backend stops decoding it: the tokens are really not
  generated) as soon as the group confidence of its last ``window`` tokens falls below ``s``.
  Stopped samples do not vote; complete ones whose trace confidence is at least ``s`` (warm-up
  samples included) vote, each weighted by its confidence.
  **Adaptive sampling** (the paper's consensus stop, Algorithm 2): with ``consensus`` = tau (the
  paper's 0.95; the default 0.6, chosen on a dev set), the samples after the warm-up are
  generated one at a time, and after each one (and after the warm-up) the vote's consensus
  ``beta = V(top answer) / sum_a V(a)`` (the confidence-weighted share of the leading answer
  among the voters so far) is checked:
  sampling stops once ``beta >= tau`` with at least ``consensus_votes`` voters (default 2: a
  single voter is no consensus), else it goes on up to ``n``. ``consensus=None`` (or 1.0) turns it
  off: the later samples are then drawn together in one batched call, all ``n`` of them.
* ``offline``: all ``n`` samples are generated in full, the top ``eta`` percent by trace
  confidence are kept (threshold: the ``100 - eta`` percentile) and vote, weighted by confidence.

A backend that returns no log-probabilities gets plain self-consistency, with the reason logged
and recorded as a ``fallback`` trace event.

Trace events: ``sample`` (one per sample: answer, tokens, finish reason, phase, confidence summary,
``stopped_early``), ``threshold`` (the warm-up confidences, eta and ``s``), ``consensus`` (online
with adaptive sampling, one per check: ``beta``, the leading answer, voters, samples so far,
``reached``), ``vote`` (the weighted tally: groups with their summed confidence, sample indices,
who voted).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any, Sequence

from .._exceptions import ConfigError
from ..backends import TokenCallback, TokenEvent, TokenObserver
from .base import Run, Strategy, StrategyResult
from .sampling import Sample, affordable, draw, sampling_temperature
from .self_consistency import vote_result, vote_samples
from .voting import Equivalence, equivalence_for, majority

log = logging.getLogger(__name__)

MODES = ("online", "offline")


# ---- confidence arithmetic (pure) ----------------------------------------------------------

def group_confidences(logprobs: Sequence[float], window: int) -> list[float]:
    """``exp(mean log-prob)`` of every run of ``window`` consecutive tokens, in order.

    A trace shorter than ``window`` is one group; an empty one has none.

    >>> [round(c, 4) for c in group_confidences([0.0, math.log(0.25), 0.0], 2)]
    [0.5, 0.5]
    """
    if window < 1:
        raise ConfigError(f"deepconf window must be an integer >= 1, got {window!r}")
    lps = [float(x) for x in logprobs]
    if not lps:
        return []
    w = min(window, len(lps))
    total = math.fsum(lps[:w])
    out = [math.exp(total / w)]
    for i in range(w, len(lps)):
        total += lps[i] - lps[i - w]
        out.append(math.exp(total / w))
    return out


def trace_confidence(logprobs: Sequence[float] | None, window: int) -> float | None:
    """The lowest group confidence of a trace (None without log-probabilities)."""
    groups = group_confidences(logprobs or (), window)
    return min(groups) if groups else None


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between order statistics
    (numpy's default rule)."""
    if not values:
        raise ConfigError("percentile of no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def threshold(confidences: Sequence[float], eta: float) -> float:
    """The paper's stopping threshold: keep the top ``eta`` percent, so the ``100 - eta``
    percentile of the (warm-up) trace confidences."""
    return percentile(confidences, 100.0 - eta)


# ---- the early-stop gate (a streaming callback) --------------------------------------------

class GroupWindow:
    """One sample's sliding window of its last ``window`` log-probabilities, fed one at a time:
    the early-stop rule, written once (the streaming gate keeps one per sample; the dev-set
    replay of ``benchmarks/deepconf_dev.py`` feeds recorded traces through it).

    >>> w = GroupWindow(2, threshold=0.5)
    >>> [w.push(x) for x in (0.0, math.log(0.5), math.log(0.25))], w.seen, round(w.confidence, 4)
    ([False, False, True], 3, 0.3536)
    """

    __slots__ = ("window", "seen", "confidence", "_log_threshold", "_lps")

    def __init__(self, window: int, threshold: float) -> None:
        self.window = window
        self._log_threshold = math.log(threshold) if threshold > 0 else -math.inf
        self._lps: deque[float] = deque(maxlen=window)
        self.seen = 0
        self.confidence: float | None = None  # the group confidence of the last full window

    def push(self, logprob: float) -> bool:
        """Add one token's log-probability; True when the window is full and its group
        confidence is below the threshold (the sample should stop here)."""
        self._lps.append(float(logprob))
        self.seen += 1
        if len(self._lps) < self.window:
            return False
        mean = math.fsum(self._lps) / self.window
        self.confidence = math.exp(mean)
        return mean < self._log_threshold


class ConfidenceGate(TokenObserver):
    """A ``TokenCallback`` that ends a sample once its sliding-window group confidence drops
    below ``threshold`` (:class:`GroupWindow`); it forwards every event to ``inner`` (the run's
    own observer: gists, stop-at-the-answer) first, and a stop ``inner`` asks for is not an early
    stop.

    ``stopped`` maps the index of each sample it ended (within the current backend call) to
    ``(tokens seen, group confidence)``. Each streamed event counts as one token with the
    log-probability it carries (a backend that releases several held-back tokens in one event,
    at a stop-string prefix, reports the last one's; events without one are skipped).
    """

    def __init__(self, threshold: float, window: int, inner: TokenCallback | None = None) -> None:
        self.threshold = threshold
        self.window = window
        self.inner = inner
        self._windows: dict[tuple[int, int], GroupWindow] = {}
        self.stopped: dict[int, tuple[int, float]] = {}

    def next_call(self) -> None:
        """A new backend call: sample indices restart."""
        self._windows.clear()
        self.stopped = {}
        if isinstance(self.inner, TokenObserver):
            self.inner.next_call()

    def __call__(self, event: TokenEvent) -> bool:
        if self.inner is not None and self.inner(event):
            return True
        if event.logprob is None:
            return False
        key = (event.prompt_index, event.index)
        win = self._windows.get(key)
        if win is None:
            win = self._windows[key] = GroupWindow(self.window, self.threshold)
        if win.push(event.logprob):
            self.stopped[event.index] = (win.seen, float(win.confidence or 0.0))
            return True
        return False


# ---- who votes, and when the vote is settled (pure) ------------------------------------------

def voters(confidences: Sequence[float | None], stopped: Sequence[bool], s: float) -> list[int]:
    """The positions of the samples that vote: complete (not stopped early) with a trace
    confidence of at least ``s``.

    >>> voters([0.9, 0.5, None, 0.95], [False, False, False, True], 0.6)
    [0]
    """
    return [i for i, (c, st) in enumerate(zip(confidences, stopped)) if not st and c is not None and c >= s]


def consensus(answers: Sequence[str | None], weights: Sequence[float], equivalent: Equivalence | None = None,
              ) -> tuple[float, int, str | None]:
    """The adaptive-sampling statistic over the voters' ``answers`` and confidence ``weights``:
    ``(beta, answered, leader)``, beta the leading answer's share of the weighted vote, answered
    the voters with an answer (one without abstains).

    >>> consensus(["7", "7", None], [0.9, 0.6, 0.8])
    (1.0, 2, '7')
    """
    vote = majority(list(answers), equivalent=equivalent, weights=[float(w) for w in weights])
    total = math.fsum(g.score for g in vote.groups)
    beta = vote.winner.score / total if vote.winner is not None and total > 0 else 0.0
    return beta, sum(g.count for g in vote.groups), vote.answer


# ---- the strategy ----------------------------------------------------------------------------

class DeepConf(Strategy):
    """Confidence-filtered, confidence-weighted voting over N samples, with early stopping.

    ``mode`` is ``online`` (warm-up sets the threshold, later samples stop early) or ``offline``
    (all samples in full, top ``eta`` percent vote); ``eta`` the percent of traces kept (10:
    aggressive, 90: conservative); ``window`` the group size in tokens; ``warmup`` the online
    warm-up samples (default ``max(2, ceil(n / 4))``, at most n). ``n`` overrides the budget's n;
    ``temperature`` the default sampling temperature (the budget's, if set, wins).
    ``consensus`` (online only) is the paper's adaptive-sampling threshold tau: after the warm-up
    the samples are drawn one at a time and sampling stops once the confidence-weighted share of
    the leading answer among at least ``consensus_votes`` voters reaches it; ``None`` or 1.0
    disables it (every sample up to ``n``, the later ones in one batched call).
    ``warmup_consensus`` (with ``consensus`` on) draws the warm-up one sample at a time too and
    checks the consensus from the ``consensus_votes``-th warm-up sample on, under the threshold
    of the warm-up so far: a warm-up that already agrees ends the run.

    The defaults of ``eta`` (90), ``window`` (1), ``consensus`` (0.6), ``consensus_votes``,
    the warm-up rule and ``warmup_consensus`` were chosen by replaying the online rule on
    recorded samples of a dev set (``benchmarks/deepconf_dev.py``; docs/strategies.md).
    """

    name = "deepconf"

    # the defaults of eta, window and consensus were chosen on a dev set (benchmarks/deepconf_dev.py)
    def __init__(self, n: int | None = None, *, mode: str = "online", eta: float = 90.0,
                 window: int = 1, warmup: int | None = None, temperature: float | None = None,
                 consensus: float | None = 0.6, consensus_votes: int = 2, warmup_consensus: bool = False,
                 equivalent: Equivalence | None = None) -> None:
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ConfigError(f"deepconf n must be an integer >= 1, got {n!r}")
        if mode not in MODES:
            raise ConfigError(f"deepconf mode must be one of {', '.join(MODES)}, got {mode!r}")
        if (isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta)
                or not 0 < eta <= 100):
            raise ConfigError(f"deepconf eta is the percent of traces kept, in (0, 100]; got {eta!r}")
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ConfigError(f"deepconf window must be an integer >= 1, got {window!r}")
        if warmup is not None and (not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 1):
            raise ConfigError(f"deepconf warmup must be an integer >= 1, got {warmup!r}")
        if consensus is not None and (isinstance(consensus, bool) or not isinstance(consensus, (int, float))
                                      or not math.isfinite(consensus) or not 0.5 < consensus <= 1.0):
            raise ConfigError("deepconf consensus is the leading answer's vote share that stops sampling, "
                              f"in (0.5, 1] (1 or None: off); got {consensus!r}")
        if not isinstance(consensus_votes, int) or isinstance(consensus_votes, bool) or consensus_votes < 1:
            raise ConfigError(f"deepconf consensus_votes must be an integer >= 1, got {consensus_votes!r}")
        if not isinstance(warmup_consensus, bool):
            raise ConfigError(f"deepconf warmup_consensus must be true or false, got {warmup_consensus!r}")
        self.n = n
        self.mode = mode
        self.consensus = None if consensus is None or consensus >= 1.0 else float(consensus)
        self.consensus_votes = consensus_votes
        self.warmup_consensus = warmup_consensus
        self.eta = float(eta)
        self.window = window
        self.warmup = warmup
        self.temperature = temperature
        self.equivalent = equivalent

    def run(self, run: Run) -> StrategyResult:
        n = self.n or run.budget.n
        temp = sampling_temperature(run, self.temperature)
        if temp == 0.0 and n > 1:
            log.warning("deepconf: n=%d samples at temperature 0 would all be the same; drawing one", n)
            n = 1
        eq = self.equivalent or equivalence_for(run.task.domain, run.task.question)
        if not run.backend.supports_logprobs:
            return self._fallback(run, f"backend {run.backend.model_name!r} returns no log-probabilities",
                                  n, temp, eq, ())
        if self.mode == "offline":
            return self._finish(run, self._draw(run, n, (), temp, None, "full"), n, temp, eq)
        warm = self.warmup_size(n)
        if self.consensus is None or not self.warmup_consensus:
            return self._finish(run, self._draw(run, warm, (), temp, None, "warmup"), n, temp, eq)
        samples: list[Sample] = []
        while len(samples) < warm:  # one at a time: a warm-up that already agrees ends the run
            before = len(samples)
            samples = self._draw(run, before + 1, samples, temp, None, "warmup")
            if len(samples) == before:  # the token budget is spent
                break
            if len(samples) == warm or len(samples) < self.consensus_votes:
                continue  # the full warm-up's check is _finish's
            if any(x.logprobs is None for x in samples):
                break  # _finish falls back
            confs = {x.index: trace_confidence(x.logprobs, self.window) for x in samples}
            basis = [c for c in confs.values() if c is not None]
            if basis and self._consensus(run, samples, confs, {}, threshold(basis, self.eta), eq):
                return self._finish(run, samples, n, temp, eq, settled=True)
        return self._finish(run, samples, n, temp, eq)

    def warmup_size(self, n: int) -> int:
        """The online warm-up at ``n`` samples: ``warmup`` if given, else the default rule; at
        most ``n``."""
        return min(n, self.warmup or max(2, math.ceil(n / 4)))

    # -- steps -------------------------------------------------------------------------------

    def _finish(self, run: Run, samples: list[Sample], n: int, temp: float,
                eq: Equivalence, settled: bool = False) -> StrategyResult:
        """Set the threshold from the samples drawn in full; online, draw the rest through the
        gate (unless the warm-up already ``settled`` the vote); vote."""
        stopped: dict[int, tuple[int, float]] = {}
        confs = {s.index: trace_confidence(s.logprobs, self.window) for s in samples}
        if any(s.logprobs is None for s in samples):
            return self._fallback(run, "the backend returned samples without log-probabilities",
                                  n, temp, eq, samples)
        basis_confs = [c for c in confs.values() if c is not None]
        if not basis_confs:  # every sample was empty: nothing to learn a threshold from
            return self._fallback(run, "no sample produced any tokens to read a confidence from",
                                  n, temp, eq, samples)
        s = threshold(basis_confs, self.eta)
        run.event("threshold", f"{s:.6g}", mode=self.mode, eta=self.eta, window=self.window,
                  samples=len(basis_confs), confidences=[round(c, 6) for c in basis_confs],
                  threshold=round(s, 6))
        reached: bool | None = True if settled else None
        if self.mode == "online" and len(samples) < n and not settled:
            gate = ConfidenceGate(s, self.window, run.on_token)
            if self.consensus is None:
                samples = self._draw(run, n, samples, temp, gate, "online", stopped)
            else:  # adaptive sampling: one sample at a time until the voters agree
                while not (reached := self._consensus(run, samples, confs, stopped, s, eq)) and len(samples) < n:
                    before = len(samples)
                    samples = self._draw(run, before + 1, samples, temp, gate, "online", stopped)
                    if len(samples) == before:  # the token budget is spent
                        break
                    confs.update({x.index: trace_confidence(x.logprobs, self.window) for x in samples[before:]})
            confs = {x.index: trace_confidence(x.logprobs, self.window) for x in samples}
        chosen = self._voters(samples, confs, stopped, s)
        if not chosen:  # cannot happen for the max of the basis; kept as a guard, said openly
            chosen = [x for x in samples if x.index not in stopped] or list(samples)
            run.event("note", "no sample reached the threshold: every complete sample votes")
        weights = [float(confs[x.index] or 0.0) for x in chosen]
        vote = majority([x.answer for x in chosen], equivalent=eq, weights=weights)
        groups = [{**g.to_dict(), "members": [chosen[m].index for m in g.members]} for g in vote.groups]
        run.event("vote", vote.answer or "", weighted=True, samples=len(samples),
                  voters=[x.index for x in chosen], stopped_early=sorted(stopped), threshold=round(s, 6),
                  abstained=vote.abstained, groups=groups)
        best = chosen[vote.winner.members[0]] if vote.winner else None
        output = best.text if best else chosen[0].text
        return run.result(self.name, vote.answer, output, score=confs[best.index] if best else None,
                          mode=self.mode, samples=len(samples), voters=len(chosen),
                          stopped_early=len(stopped), threshold=round(s, 6),
                          agreement=round(vote.agreement, 4), consensus_reached=reached)

    @staticmethod
    def _voters(samples: Sequence[Sample], confs: dict[int, float | None],
                stopped: dict[int, tuple[int, float]], s: float) -> list[Sample]:
        """The samples that vote (:func:`voters`)."""
        picked = voters([confs.get(x.index) for x in samples], [x.index in stopped for x in samples], s)
        return [samples[i] for i in picked]

    def _consensus(self, run: Run, samples: Sequence[Sample], confs: dict[int, float | None],
                   stopped: dict[int, tuple[int, float]], s: float, eq: Equivalence) -> bool:
        """The paper's adaptive-sampling check: ``beta``, the leading answer's share of the
        confidence-weighted vote among the voters so far, against ``consensus``; traced."""
        chosen = self._voters(samples, confs, stopped, s)
        beta, answered, leader = consensus([x.answer for x in chosen], [float(confs[x.index] or 0.0) for x in chosen], eq)
        reached = answered >= self.consensus_votes and beta >= (self.consensus or 1.0)
        run.event("consensus", leader or "", beta=round(beta, 6), tau=self.consensus,
                  voters=[x.index for x in chosen], samples=len(samples), reached=reached)
        return reached

    def _draw(self, run: Run, n: int, prior: Sequence[Sample], temp: float, gate: ConfidenceGate | None,
              phase: str, stopped: dict[int, tuple[int, float]] | None = None) -> list[Sample]:
        """Samples ``len(prior)..n-1`` with log-probabilities, inside the token budget (a call
        never asks for more samples than the cap pays for at ``max_tokens`` each); through
        ``gate`` when given, recording the samples it ended in ``stopped``."""
        samples = list(prior)
        while len(samples) < n:
            k = n - len(samples)
            can = affordable(run)
            if can is not None:
                k = min(k, can)
            if k < 1:
                log.info("deepconf: token budget spent after %d of %d samples", len(samples), n)
                run.event("budget", "token budget spent", samples=len(samples), of=n)
                break
            seed = None if run.budget.seed is None else run.budget.seed + len(samples)
            params = run.params(n=k, temperature=temp, seed=seed, logprobs=True)
            if gate is None:
                gen = run.generate([run.task.prompt_text], params, kind="warmup" if phase == "warmup" else "sample")[0]
            else:
                gate.next_call()
                gen = run.backend.generate([run.task.prompt_text], params, on_token=gate)[0]
                run.add_usage(gen.usage, kind="sample")
            for comp in gen.completions:
                s = Sample(len(samples), comp.text, run.task.extract(comp.text), comp.num_tokens,
                           comp.finish_reason, comp.logprobs)
                early = gate.stopped.get(comp.index) if gate is not None else None
                if early is not None and stopped is not None:
                    stopped[s.index] = early
                lps = comp.logprobs or ()
                groups = group_confidences(lps, self.window)
                summary: dict[str, Any] = {}
                if groups:  # the confidence curve in brief: its lowest point, mean, ends, length
                    summary = {"confidence": round(min(groups), 6),
                               "mean_confidence": round(math.exp(math.fsum(lps) / len(lps)), 6),
                               "first_group": round(groups[0], 6), "last_group": round(groups[-1], 6),
                               "groups": len(groups)}
                samples.append(s)
                run.event("sample", comp.text, index=s.index, answer=s.answer,
                          tokens=s.tokens, finish_reason=s.finish_reason, phase=phase,
                          stopped_early=early is not None,
                          stopped_at=None if early is None else {"token": early[0],
                                                                 "group_confidence": round(early[1], 6)},
                          **summary)
        return samples

    def _fallback(self, run: Run, reason: str, n: int, temp: float, eq: Equivalence,
                  prior: Sequence[Sample]) -> StrategyResult:
        """Plain self-consistency, said openly: the reason is logged and traced."""
        log.warning("deepconf falls back to self-consistency: %s", reason)
        run.event("fallback", reason, to="self-consistency")
        samples = draw(run, n, prior=prior, temperature=temp)
        vote = vote_samples(run, samples, equivalent=eq)
        return vote_result(run, self.name, samples, vote, mode=self.mode, fallback=reason)
