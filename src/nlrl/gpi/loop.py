"""Language GPI on text environments: evaluate -> improve, repeated.

* :class:`StateImprover` does one GPI step at one state: pick candidate actions (top-k distinct
  samples of pi_L, or every legal action), estimate Q^L for each with language MC or TD under
  the current policy, and let the improvement operator I choose.
* Decision-time GPI (``mode="decision"``): the agent runs that step at every state it acts in.
* Iterative GPI (``mode="iterative"``): the states visited by the current policy are improved
  between iterations and the results go in a table (state -> language values and improved
  action) carried across iterations; the next policy plays the table and falls back to pi_L.

In both modes the rollouts and look-ahead of iteration i follow the policy of iteration i-1
(the table so far, then pi_L), so each iteration evaluates the previous policy and improves on
it. The metric is measured per iteration on the same episodes (same start positions and random
seeds) as the baselines.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

from .._exceptions import ConfigError
from ..backends.base import Backend
from .envs.base import Episode, TextEnv
from .improvement import ImprovementOperator
from .llm import JsonCaller, Ledger
from .policy import LanguagePolicy, OptimalMazePolicy, Policy, PolicyDecision, RandomPolicy, TablePolicy
from .value import LanguageValue, MonteCarloEstimator, QEstimate, TDEstimator

MODES = ("iterative", "decision")
ESTIMATORS = ("td", "mc")
MASKS = ("topk", "all")


@dataclass(frozen=True)
class GPIConfig:
    """Settings of a GPI run (defaults sized for a small model on a CPU)."""

    mode: str = "iterative"
    estimator: str = "td"
    k: int = 2                 # MC rollouts or TD variations per candidate
    depth: int = 1             # TD: look-ahead moves after the candidate
    rollout_moves: int = 10    # MC: moves per rollout at most (a rollout also ends with the episode)
    mask: str = "topk"         # candidates: top-k policy samples, or all legal actions
    top_k: int = 2
    policy_samples: int = 4    # samples drawn to find the top-k
    first_random: bool = True  # first move after the candidate is random (variations differ)
    max_states: int = 8        # iterative mode: states improved per iteration
    episodes: int = 10         # tictactoe games, or maze start positions
    rollouts: int = 1          # maze: episodes per start position
    seed: int = 0

    def __post_init__(self) -> None:
        for name, value, allowed in (("mode", self.mode, MODES), ("estimator", self.estimator, ESTIMATORS),
                                     ("mask", self.mask, MASKS)):
            if value not in allowed:
                raise ConfigError(f"unknown GPI {name} {value!r}; known: {', '.join(allowed)}")
        for name in ("k", "top_k", "policy_samples", "max_states", "episodes", "rollouts", "rollout_moves"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"GPI setting {name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.depth, int) or self.depth < 0:
            raise ConfigError(f"GPI setting depth must be an integer >= 0, got {self.depth!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TableEntry:
    """One improved state: the candidates' language values and the chosen action."""

    state: Hashable
    action: str
    thought: str
    source: str
    estimates: tuple[QEstimate, ...]
    iteration: int

    def to_dict(self, env: TextEnv) -> dict[str, Any]:
        return {"state": env.describe(self.state), "action": self.action, "thought": self.thought,
                "source": self.source, "iteration": self.iteration,
                "candidates": [q.to_dict() for q in self.estimates]}


class StateImprover:
    """One evaluate -> improve step at a state."""

    def __init__(self, env: TextEnv, policy: LanguagePolicy, estimator: MonteCarloEstimator | TDEstimator,
                 improver: ImprovementOperator, config: GPIConfig) -> None:
        self.env, self.policy, self.estimator, self.improver, self.config = env, policy, estimator, improver, config
        self.mask_fallbacks = 0  # top-k found no legal candidate: random legal ones were used

    def candidates(self, state: Hashable, rng: random.Random) -> list[str]:
        legal = self.env.legal_actions(state)
        if self.config.mask == "all":
            return legal
        cands, _ = self.policy.propose(state, self.config.top_k, self.config.policy_samples)
        if not cands:
            # no sample was a legal action: keep the candidate budget with random legal actions
            self.mask_fallbacks += 1
            return sorted(rng.sample(legal, min(self.config.top_k, len(legal))), key=legal.index)
        return cands

    def improve(self, state: Hashable, rollout_policy: Policy, rng: random.Random, iteration: int) -> TableEntry:
        key = self.env.state_key(state)
        cands = self.candidates(state, rng)
        if len(cands) == 1:
            return TableEntry(key, cands[0], "", "only", (), iteration)
        estimates = tuple(self.estimator.estimate(state, a, rollout_policy, rng) for a in cands)
        choice = self.improver.choose(state, estimates)
        return TableEntry(key, choice.action, choice.thought, choice.source, estimates, iteration)


class DecisionTimeAgent:
    """Decision-time GPI: evaluate the candidates and improve at every state acted in.

    A state met again within the same iteration reuses that iteration's improvement (same
    state, same rollout policy), which bounds the cost of loops in deterministic mazes.
    """

    def __init__(self, improver: StateImprover, rollout_policy: Policy, iteration: int) -> None:
        self.improver = improver
        self.rollout_policy = rollout_policy
        self.iteration = iteration
        self.decisions: dict[Hashable, TableEntry] = {}

    def act(self, env: TextEnv, state: Hashable, rng: random.Random) -> PolicyDecision:
        key = env.state_key(state)
        entry = self.decisions.get(key)
        if entry is None:
            entry = self.improver.improve(state, self.rollout_policy, rng, self.iteration)
            self.decisions[key] = entry
        return PolicyDecision(entry.action, entry.thought, source="gpi")


# ---- playing episodes ---------------------------------------------------------------------

@dataclass(frozen=True)
class EpisodePlan:
    """The episodes every policy is measured on: start states and the seeds of their randomness."""

    starts: tuple[Hashable | None, ...]
    seeds: tuple[int, ...]

    @classmethod
    def build(cls, env: TextEnv, episodes: int, rollouts: int, seed: int) -> "EpisodePlan":
        rng = random.Random(seed)
        starts: list[Hashable | None]
        if env.sweep_starts:
            pool = env.start_states()
            chosen = pool if episodes >= len(pool) else sorted(rng.sample(pool, episodes), key=repr)
            starts = [s for s in chosen for _ in range(rollouts)]
        else:
            starts = [None] * episodes
        return cls(tuple(starts), tuple(rng.randrange(2**31) for _ in starts))


@dataclass
class PlayLog:
    episodes: list[Episode] = field(default_factory=list)
    sources: Counter = field(default_factory=Counter)
    visits: Counter = field(default_factory=Counter)
    first_seen: dict[Hashable, Hashable] = field(default_factory=dict)
    #: per episode, each move's decision (its source and the policy's thought)
    decisions: list[tuple[PolicyDecision, ...]] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return sum(len(e.steps) for e in self.episodes)


def play_episode(env: TextEnv, policy: Policy, start: Hashable | None, seed: int, log: PlayLog) -> Episode:
    rng = random.Random(seed)  # the environment's randomness (opponent): same for every policy
    policy_rng = random.Random(seed + 1)
    state = env.reset(rng, start)
    first = state
    states, actions, steps, decisions = [], [], [], []
    while not env.is_terminal(state):
        key = env.state_key(state)
        log.visits[key] += 1
        log.first_seen.setdefault(key, state)
        decision = policy.act(env, state, policy_rng)
        log.sources[decision.source] += 1
        step = env.step(state, decision.action, rng)
        states.append(state)
        actions.append(decision.action)
        steps.append(step)
        decisions.append(decision)
        state = step.state
        if step.done:
            break
    ep = Episode(first, tuple(states), tuple(actions), tuple(steps))
    log.episodes.append(ep)
    log.decisions.append(tuple(decisions))
    return ep


def episode_records(env: TextEnv, log: PlayLog) -> list[dict[str, Any]]:
    """The episodes of a measurement move by move, as text (what ``nlrl view`` draws): each
    move's state, action, what happened, and where the move came from with its thought."""
    out = []
    for ep, decisions in zip(log.episodes, log.decisions):
        moves = [{"state": env.describe(s), "action": a, "text": env.describe_step(s, a, st), "reward": st.reward,
                  "illegal": st.illegal, "source": d.source, "thought": d.thought}
                 for s, a, st, d in zip(ep.states, ep.actions, ep.steps, decisions)]
        final = ep.final
        out.append({"moves": moves, "return": ep.total_reward,
                    "final_state": env.describe(final.state if final is not None else ep.start),
                    "outcome": env.describe_outcome(final) if final is not None and final.done else "not finished"})
    return out


def play(env: TextEnv, policy: Policy, plan: EpisodePlan) -> PlayLog:
    log = PlayLog()
    for start, seed in zip(plan.starts, plan.seeds):
        play_episode(env, policy, start, seed, log)
    return log


# ---- the GPI run ---------------------------------------------------------------------------

def _usage_figures(ledger: Ledger, steps: int) -> dict[str, Any]:
    t = ledger.total()
    tokens = t.prompt_tokens + t.completion_tokens
    return {"calls": t.calls, "prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens,
            "calls_per_step": round(t.calls / steps, 3) if steps else 0.0,
            "tokens_per_step": round(tokens / steps, 1) if steps else 0.0,
            "parse_failures": t.parse_failures, "fallbacks": t.fallbacks,
            "model_wall_s": round(t.wall_s, 2), "by_role": ledger.to_dict()["by_role"]}


class GPIRun:
    """Language GPI on one environment with one model.

    >>> run = GPIRun(env, backend, GPIConfig(episodes=4))   # doctest: +SKIP
    >>> result = run.run(iterations=2)                       # doctest: +SKIP
    >>> [it["win"] for it in result["iterations"]]           # doctest: +SKIP
    """

    def __init__(self, env: TextEnv, backend: Backend, config: GPIConfig | None = None, *,
                 caller: JsonCaller | None = None, max_tokens: int = 48,
                 progress: Callable[[str], None] | None = None) -> None:
        self.env = env
        self.config = config or GPIConfig()
        self.caller = caller or JsonCaller(backend, max_tokens=max_tokens, seed=self.config.seed)
        self.ledger = self.caller.ledger
        self.policy = LanguagePolicy(self.caller, env)
        value = LanguageValue(self.caller, env)
        c = self.config
        if c.estimator == "td":
            estimator: MonteCarloEstimator | TDEstimator = TDEstimator(
                self.caller, env, value, variations=c.k, depth=c.depth, first_random=c.first_random)
        else:
            estimator = MonteCarloEstimator(self.caller, env, rollouts=c.k, max_moves=c.rollout_moves,
                                            first_random=c.first_random)
        self.improver = StateImprover(env, self.policy, estimator, ImprovementOperator(self.caller, env), c)
        self.plan = EpisodePlan.build(env, c.episodes, c.rollouts, c.seed)
        self.table: dict[Hashable, TableEntry] = {}
        self._rng = random.Random(c.seed + 1)
        self._say = progress or (lambda _msg: None)

    def _measure(self, policy: Policy) -> tuple[dict[str, Any], PlayLog]:
        log = play(self.env, policy, self.plan)
        metric = self.env.summarize(log.episodes)
        metric["steps"] = log.steps
        metric["action_sources"] = dict(sorted(log.sources.items()))
        return metric, log

    def baselines(self) -> dict[str, dict[str, Any]]:
        """Non-language baselines measured on the same episodes (no model calls)."""
        out = {"random": self._measure(RandomPolicy())[0]}
        if hasattr(self.env, "optimal_action"):
            out["optimal"] = self._measure(OptimalMazePolicy())[0]
        return out

    def _states_to_improve(self, log: PlayLog) -> list[Hashable]:
        keys = list(log.visits)
        keys.sort(key=lambda k: (k in self.table, -log.visits[k]))  # new states first, then busy ones
        return [log.first_seen[k] for k in keys[: self.config.max_states]]

    def run(self, iterations: int) -> dict[str, Any]:
        if not isinstance(iterations, int) or iterations < 1:
            raise ConfigError(f"iterations must be an integer >= 1, got {iterations!r}")
        started = time.perf_counter()
        base = self.baselines()
        before = self.ledger.copy()
        t0 = time.perf_counter()
        metric, log = self._measure(self.policy)
        spent = self.ledger.minus(before)
        base["language_policy"] = {**metric, **_usage_figures(spent, log.steps),
                                   "wall_s": round(time.perf_counter() - t0, 2),
                                   "episode_log": episode_records(self.env, log)}
        self._say(f"language policy: {self._headline(metric)}")
        rows = []
        for it in range(1, iterations + 1):
            before, t0 = self.ledger.copy(), time.perf_counter()
            rollout_policy = TablePolicy(dict(self.table), self.policy)
            mask_before = self.improver.mask_fallbacks
            if self.config.mode == "iterative":
                improved = 0
                for state in self._states_to_improve(log):
                    entry = self.improver.improve(state, rollout_policy, self._rng, it)
                    self.table[entry.state] = entry
                    improved += 1
                metric, log = self._measure(TablePolicy(self.table, self.policy))
            else:
                agent = DecisionTimeAgent(self.improver, rollout_policy, it)
                metric, log = self._measure(agent)
                improved = len(agent.decisions)
                self.table.update(agent.decisions)
            spent = self.ledger.minus(before)
            row = {"iteration": it, **metric, "improved_states": improved, "table_size": len(self.table),
                   "mask_fallbacks": self.improver.mask_fallbacks - mask_before,
                   **_usage_figures(spent, log.steps),
                   "calls_per_improved_state": round(spent.total().calls / improved, 2) if improved else 0.0,
                   "wall_s": round(time.perf_counter() - t0, 2), "episode_log": episode_records(self.env, log)}
            rows.append(row)
            self._say(f"iteration {it}: {self._headline(metric)} ({improved} states improved, "
                      f"{row['calls']} calls, {row['wall_s']}s)")
        return {
            "env": self.env.name,
            "layout": getattr(getattr(self.env, "layout", None), "name", None),
            "opponent": getattr(self.env, "opponent", None),
            "metric": self.env.primary_metric,
            "settings": self.config.to_dict(),
            "model": getattr(self.caller.backend, "model_name", "?"),
            "backend": getattr(self.caller.backend, "name", "?"),
            "max_tokens": self.caller.max_tokens,
            "retries": self.caller.retries,
            "baselines": base,
            "iterations": rows,
            "usage": self.ledger.to_dict(),
            "wall_s": round(time.perf_counter() - started, 2),
            "table": [e.to_dict(self.env) for e in self.table.values()],
        }

    def _headline(self, metric: dict[str, Any]) -> str:
        return ", ".join(f"{k}={metric[k]}" for k in self.env.metric_keys)


def metric_series(result: dict[str, Any], key: str | None = None) -> tuple[list[int], list[float]]:
    """Iteration numbers (0 = the plain language policy) and the metric at each."""
    key = key or result["metric"]
    xs = [0] + [r["iteration"] for r in result["iterations"]]
    ys = [result["baselines"]["language_policy"][key]] + [r[key] for r in result["iterations"]]
    return xs, ys
