"""Language GPI that learns: evaluate -> improve -> distil, repeated, resumable.

Each iteration i (1..K), with the model as trained after iteration i-1:

1. **Evaluate.** The states the current policy visited in its last measurement (new ones first,
   then the busiest, ``states`` of them) are evaluated by Monte-Carlo rollouts per legal action,
   with the current policy (the model's own greedy moves) and with a random one
   (:class:`~nlrl.gpi.rollouts.RolloutEvaluator`); the language evaluations are composed from
   those statistics and recorded with ``source="rollouts"``.
2. **Improve.** The improved action is ``argmax_a max_pi Q^pi(s, a)``; its target text is the
   chain of thought that cites the evaluations it rests on, then the action.
3. **Distil.** LoRA fine-tuning (:class:`~nlrl.gpi.train.Distiller`) on every target so far
   (the latest per state): (state -> reasoning + action) for the policy and (state -> language
   evaluation) for the value. The adapter is saved in ``RUN/adapters/iter-i``.
4. **Measure.** The trained model plays greedily on the same episodes as the baselines; every
   move is the model's own generated answer, parsed strictly and masked to the legal moves. An
   answer that does not parse or names an illegal move is retried, then replaced by a uniformly
   random legal move, and counted (``fallbacks``): an illegal move is never played.

Run directory: ``config.json``, ``iterations/NNNN.json`` (one per finished iteration, 0 = the
untrained model), ``adapters/iter-i/``, ``dataset.jsonl`` (every target with its iteration and
source), ``results.json`` and ``gpi.png`` (rewritten after each iteration). A run that was
killed resumes from its last finished iteration with the same settings, or from its last
finished try (``iterations/NNNN.partial.json``).

**The validation gate** (``validation_games`` > 0): each try of step 3 is played on
``validation_games`` episodes whose seeds are disjoint from the measured ones (both are in
results.json), and compared with the kept policy's validation (measured once per policy, kept in
its iteration's row): it is rejected when its mean metric (win rate, or mean return) is lower or
its fallback rate higher (:func:`gate_reason`). A rejected first try is retried once from the
kept adapter at ``lr * retry_lr_factor`` with a fresh optimizer; if that is rejected too, the
iteration keeps the previous adapter (its measurement stands, copied) and is marked rejected
(``gate``). The measured episodes never influence the choice. Targets of a rejected iteration
stay in the dataset (they come from rollouts, not from the model).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Hashable

from .._exceptions import ConfigError
from .envs.base import TextEnv
from .llm import THOUGHT_PREFIX, JsonCaller, Ledger
from .loop import EpisodePlan, PlayLog, episode_records, play_episode
from .policy import LanguagePolicy, OptimalMazePolicy, Policy, RandomPolicy
from .rollouts import ESTIMATORS, RolloutEvaluator, StateReport
from .value import VALUE_KEYS, Evaluation, _evaluation
from .templates import load_prompts
from .train import Distiller, Example


@dataclass(frozen=True)
class LearnConfig:
    """Settings of a learning GPI run (the run directory keeps them; a resume must match)."""

    games: int = 100           # measured episodes: tictactoe games, or maze start positions
    rollouts: int = 1          # maze: episodes per start position
    states: int = 40           # states evaluated and distilled per iteration
    policy_rollouts: int = 2   # rollouts per action with the current (model) policy
    random_rollouts: int = 16  # rollouts per action with a random policy
    rollout_moves: int = 10    # moves per rollout at most
    value_targets: bool = True  # also distil V^L(s) (state -> evaluation)
    estimator: str = "mc"      # mc: rollouts; td: one step, then the model's V^L of the successor
    lookaheads: int = 2        # td: one-step samples per action
    epochs: int = 2
    lr: float = 1e-3
    rank: int = 8
    batch_size: int = 8
    max_tokens: int = 40
    retries: int = 1
    seed: int = 0
    validation_games: int = 30    # the gate's episodes (seeds disjoint from the measured ones); 0: no gate
    retry_lr_factor: float = 0.25  # a rejected try is retried once from the kept adapter at lr * this
    # None: the environment's default (TextEnv.learn_defaults: on for mazes, off for tictactoe)
    hints: bool | None = None         # the learn_policy prompt adds env.prompt_context (a maze goal's direction)
    restate: bool | None = None       # the policy target's thought starts with env.position_words(state)
    select_epoch: bool | None = None  # keep the epoch whose greedy moves match the policy targets best

    def __post_init__(self) -> None:
        for name in ("games", "rollouts", "states", "rollout_moves", "epochs", "rank", "batch_size", "max_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"learning setting {name} must be an integer >= 1, got {v!r}")
        for name in ("policy_rollouts", "random_rollouts", "retries"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"learning setting {name} must be an integer >= 0, got {v!r}")
        if self.policy_rollouts + self.random_rollouts < 1:
            raise ConfigError("learning needs rollouts: policy_rollouts + random_rollouts >= 1")
        if self.estimator not in ESTIMATORS:
            raise ConfigError(f"unknown estimator {self.estimator!r}; known: {', '.join(ESTIMATORS)}")
        if self.estimator == "td" and not self.value_targets:
            raise ConfigError("the td estimator reads the model's language values: keep value targets on")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ConfigError(f"learning setting lr must be > 0, got {self.lr!r}")
        v = self.validation_games
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"learning setting validation_games must be an integer >= 0, got {v!r}")
        if not (isinstance(self.retry_lr_factor, (int, float)) and 0 < self.retry_lr_factor <= 1):
            raise ConfigError(f"learning setting retry_lr_factor must be in (0, 1], got {self.retry_lr_factor!r}")
        for name in ("hints", "restate", "select_epoch"):
            if getattr(self, name) not in (None, True, False):
                raise ConfigError(f"learning setting {name} must be true, false or unset, got {getattr(self, name)!r}")

    def resolved(self, env: TextEnv) -> dict[str, bool]:
        """``hints``, ``restate`` and ``select_epoch`` with the environment's defaults filled in."""
        return {k: bool(env.learn_defaults.get(k, False)) if getattr(self, k) is None else bool(getattr(self, k))
                for k in ("hints", "restate", "select_epoch")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def json_target(**fields: Any) -> str:
    """The answer text after the prompt's ``{"thought": "`` opening, ending the line."""
    text = json.dumps(fields, ensure_ascii=False)
    if not text.startswith(THOUGHT_PREFIX):
        raise ConfigError("a target must start with its thought")
    return text[len(THOUGHT_PREFIX):] + "\n"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a kill leaves the old file or the new one, never half of one


def _interval(lo_hi: tuple[float, float]) -> list[float]:
    return [round(lo_hi[0], 4), round(lo_hi[1], 4)]


def measure_figures(env: TextEnv, log: PlayLog) -> dict[str, Any]:
    """The metric of a measurement with 95% intervals (Wilson for rates, bootstrap for means)."""
    from ..bench.metrics import bootstrap_interval, wilson_interval

    eps = log.episodes
    n = len(eps)
    metric: dict[str, Any] = dict(env.summarize(eps))
    returns = [e.total_reward for e in eps]
    ci: dict[str, list[float]] = {}
    if env.name == "tictactoe":
        for key in ("win", "draw", "loss"):
            ci[key] = _interval(wilson_interval(round(metric[key] * n), n))
    else:
        ci["success"] = _interval(wilson_interval(round(metric.get("success", 0.0) * n), n))
        ci["avg_reward"] = _interval(bootstrap_interval(returns))
    metric["ci95"] = ci
    metric["returns"] = returns
    metric["fallbacks"] = log.sources.get("fallback", 0)
    metric["moves"] = log.steps
    metric["action_sources"] = dict(sorted(log.sources.items()))
    return metric


def failure_kind(error: str) -> str:
    """A failed answer's parse error, in a few classes (for counting)."""
    if "not legal here" in error:
        return "illegal action"
    if "is not an action" in error:
        return "not an action"
    if "not closed" in error:
        return "unfinished JSON (cut at max_tokens or the line's end)"
    if "no JSON object" in error:
        return "no JSON object"
    if "missing key" in error:
        return "missing key"
    if "invalid JSON" in error:
        return "invalid JSON"
    return "other"


def failed_answers(failures: list[dict[str, Any]], keep: int = 40) -> dict[str, Any]:
    """The policy's failed answers of one measurement: counted by kind, the first ``keep`` kept
    verbatim (state, raw texts, errors): the evidence of why the model fell back."""
    kinds = Counter(failure_kind(e) for f in failures for e in f["errors"][-1:])
    return {"failure_kinds": dict(kinds.most_common()), "failed_answers": failures[:keep]}


#: an iteration row's keys that are not its measurement (a rejected iteration copies the rest)
NOT_MEASURED = frozenset({"iteration", "gain", "evaluated_states", "new_targets", "targets", "improved_actions",
                          "rollout_model_calls", "evaluate_s", "target_tokens", "td_value_failures", "train",
                          "fallback_rollouts", "adapter", "gate", "reports", "wall_s", "validation", "measured_by"})


def gate_reason(new: dict[str, Any], kept: dict[str, Any]) -> str | None:
    """Why a try's validation is worse than the kept policy's, or None when it is not.

    The rule: a try is worse when its mean validation metric (win rate, or mean return) is lower,
    or when more of its moves are fallbacks (a higher fallback rate: its answer format broke)."""
    if new["score"] < kept["score"]:
        return f"{new['metric']} {new['score']} < {kept['score']}"
    if new["fallback_rate"] > kept["fallback_rate"]:
        return (f"fallback rate {new['fallback_rate']} ({new['fallbacks']}/{new['moves']}) > "
                f"{kept['fallback_rate']} ({kept['fallbacks']}/{kept['moves']})")
    return None


def validation_plan(env: TextEnv, games: int, rollouts: int, seed: int, avoid: EpisodePlan) -> EpisodePlan:
    """The gate's episodes: drawn like the measured ones, with seeds disjoint from theirs (an
    episode uses its seed and seed + 1, so neither may meet a measured episode's)."""
    plan = EpisodePlan.build(env, games, rollouts, seed + 1_000_003)
    taken = {s + d for s in avoid.seeds for d in (-1, 0, 1)}
    rng = random.Random(seed * 7 + 1)
    seeds = []
    for s in plan.seeds:
        while s in taken:
            s = rng.randrange(2**31)
        taken.update((s - 1, s, s + 1))
        seeds.append(s)
    return EpisodePlan(plan.starts, tuple(seeds))


def _per_episode(env: TextEnv, figures: dict[str, Any]) -> list[float]:
    """The primary metric episode by episode (win indicator, or return)."""
    if env.primary_metric == "win":
        return [1.0 if r > 0 else 0.0 for r in figures["returns"]]
    return list(figures["returns"])


class LearningRun:
    """Evaluate -> improve -> distil on one environment, in a run directory.

    >>> run = LearningRun(env, backend, "RUN", LearnConfig(games=20))   # doctest: +SKIP
    >>> result = run.run(iterations=3)                                  # doctest: +SKIP
    """

    def __init__(self, env: TextEnv, backend: Any, out: str | Path, config: LearnConfig | None = None, *,
                 progress: Callable[[str], None] | None = None) -> None:
        self.env = env
        self.backend = backend
        self.config = config or LearnConfig()
        self.out = Path(out)
        self._say = progress or (lambda _m: None)
        self.prompts = load_prompts(env.name).require("learn_policy", "learn_value")
        c = self.config
        self.plan = EpisodePlan.build(env, c.games, c.rollouts, c.seed)
        self.validation = validation_plan(env, c.validation_games, c.rollouts, c.seed, self.plan)
        self.evaluator = RolloutEvaluator(env, policy_rollouts=c.policy_rollouts, random_rollouts=c.random_rollouts,
                                          max_moves=c.rollout_moves, estimator=c.estimator,
                                          value=self._value if c.estimator == "td" else None,
                                          lookaheads=c.lookaheads, cite=1)
        self._value_caller: JsonCaller | None = None
        self.ledger = Ledger()
        self.distiller: Distiller | None = None
        self.dataset: dict[tuple[str, str], dict[str, Any]] = {}
        self.options = self.config.resolved(env)

    # ---- the run directory ----------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {"env": self.env.name, "layout": getattr(getattr(self.env, "layout", None), "name", None),
                "opponent": getattr(self.env, "opponent", None), "model": getattr(self.backend, "model_name", "?"),
                **self.config.to_dict()}

    def _settings_match(self, saved: dict[str, Any], mine: dict[str, Any], key: str) -> bool:
        if key in ("hints", "restate", "select_epoch"):  # unset and the environment's default are one
            return self.options[key] == (LearnConfig().resolved(self.env)[key] if saved.get(key) is None
                                         else bool(saved[key]))
        return saved.get(key) == mine.get(key)

    def _check_settings(self) -> None:
        path = self.out / "config.json"
        mine = self._settings()
        if path.is_file():
            saved = json.loads(path.read_text(encoding="utf-8"))
            diff = sorted(k for k in set(saved) | set(mine) if not self._settings_match(saved, mine, k))
            if diff:
                raise ConfigError(f"{self.out} holds a run with other settings ({', '.join(diff)}); "
                                  "use another --out or the same settings to resume it")
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            _write_json(path, mine)
        (self.out / "iterations").mkdir(exist_ok=True)
        (self.out / "adapters").mkdir(exist_ok=True)

    def finished(self) -> list[dict[str, Any]]:
        """The iterations already finished in the run directory, in order (0 first)."""
        rows = []
        i = 0
        while (p := self.out / "iterations" / f"{i:04d}.json").is_file():
            rows.append(json.loads(p.read_text(encoding="utf-8")))
            i += 1
        return rows

    def _load_dataset(self, upto: int) -> None:
        path = self.out / "dataset.jsonl"
        self.dataset = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                if row["iteration"] <= upto:  # targets of an unfinished iteration are dropped
                    self.dataset[(row["kind"], row["key"])] = row

    def _save_dataset(self) -> None:
        path = self.out / "dataset.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.dataset.values()),
                       encoding="utf-8")
        os.replace(tmp, path)

    # ---- pieces ---------------------------------------------------------------------------------

    def _policy(self, iteration: int) -> LanguagePolicy:
        caller = JsonCaller(self.backend, ledger=self.ledger, retries=self.config.retries, temperature=0.0,
                            max_tokens=self.config.max_tokens, seed=self.config.seed * 1000 + iteration)
        return LanguagePolicy(caller, self.env, prompts=self.prompts, kind="learn_policy", legal_only=True,
                              hints=self.options["hints"])

    def _value(self, state: Hashable) -> Evaluation:
        """V^L(s) from the current model (the ``learn_value`` prompt), for the TD variant."""
        assert self._value_caller is not None
        prompt = self.prompts.render("learn_value", state=self.env.describe(state))
        ans = self._value_caller.ask("value", prompt, required=VALUE_KEYS, nonempty=("final_evaluation",))
        return _evaluation(ans.value)

    def _measure(self, policy: Policy, *, keep_states: bool = False, plan: EpisodePlan | None = None) -> dict[str, Any]:
        before, t0 = self.ledger.copy(), time.perf_counter()
        log = PlayLog()
        plan = plan or self.plan
        n = len(plan.starts)
        for j, (start, seed) in enumerate(zip(plan.starts, plan.seeds), 1):
            play_episode(self.env, policy, start, seed, log)
            if keep_states and (j % 10 == 0 or j == n):
                self._say(f"  {j}/{n} episodes played ({time.perf_counter() - t0:.0f}s)")
        figures = measure_figures(self.env, log)
        if isinstance(policy, LanguagePolicy):
            figures.update(failed_answers(policy.failures))
        spent = self.ledger.minus(before).total()
        figures["model_calls"] = spent.calls
        figures["parse_failures"] = spent.parse_failures
        figures["measure_s"] = round(time.perf_counter() - t0, 2)
        if keep_states:
            figures["visited"] = [{"state": self.env.state_to_json(log.first_seen[k]), "visits": v}
                                  for k, v in log.visits.most_common()]
            figures["examples"] = episode_records(self.env, PlayLog(log.episodes[:2], decisions=log.decisions[:2]))
        return figures

    def baselines(self) -> dict[str, Any]:
        out = {"random": self._measure(RandomPolicy())}
        if hasattr(self.env, "optimal_action"):
            out["optimal"] = self._measure(OptimalMazePolicy())
        return out

    def _key(self, state: Hashable) -> str:
        return json.dumps(self.env.state_to_json(self.env.state_key(state)))

    def _select(self, previous: dict[str, Any]) -> list[Hashable]:
        """The states to evaluate: those visited in the last measurement with a choice of
        actions, new ones (not yet in the data set) first, then the busiest; then those with one
        legal action (the model must still answer there: a maze's dead ends). Each is evaluated
        as the policy sees it (``state_key``: in a maze the position with a fresh step budget, so
        a cell first reached late in a looping episode is not judged by truncated rollouts)."""
        seen = {key for _, key in self.dataset}
        visited = [(self.env.state_key(self.env.state_from_json(v["state"])), v["visits"])
                   for v in previous.get("visited", [])]
        visited = [(s, n) for s, n in visited if not self.env.is_terminal(s) and self.env.legal_actions(s)]
        visited.sort(key=lambda sv: (len(self.env.legal_actions(sv[0])) < 2, self._key(sv[0]) in seen, -sv[1]))
        return [s for s, _ in visited[: self.config.states]]

    def _examples(self, policy: LanguagePolicy, report: StateReport, iteration: int) -> list[dict[str, Any]]:
        key = self._key(report.state)
        desc = self.env.describe(report.state)
        rows = [{"kind": "policy", "key": key, "iteration": iteration, "source": "rollouts",
                 "prompt": policy.prompt(report.state) + THOUGHT_PREFIX,
                 "target": json_target(thought=self._thought(report), action=report.best)}]
        if self.config.value_targets:
            rows.append({"kind": "value", "key": key, "iteration": iteration, "source": report.value.source,
                         "prompt": self.prompts.render("learn_value", state=desc) + THOUGHT_PREFIX,
                         "target": json_target(thought=report.value.thought,
                                               final_evaluation=report.value.final)})
        return rows

    def _thought(self, report: StateReport) -> str:
        """The policy target's chain of thought: the reasoning, after the restated position
        (``restate``) so that what tells look-alike states apart sits next to the decision."""
        where = self.env.position_words(report.state) if self.options["restate"] else ""
        return f"{where}: {report.reasoning}" if where else report.reasoning

    def decision_accuracy(self, iteration: int) -> float:
        """The fraction of the data set's policy targets whose state the model, greedily, answers
        with the target's action (its own parsed legal answer; a fallback counts as wrong). This
        is fit to the training targets, not to any measured episode (epoch selection)."""
        rows = [r for (kind, _), r in self.dataset.items() if kind == "policy"]
        if not rows:
            return 0.0
        policy = self._policy(iteration)  # a fresh one: nothing remembered from other weights
        rng = random.Random(0)
        right = 0
        for r in rows:
            state = self.env.state_from_json(json.loads(r["key"]))
            want = json.loads(THOUGHT_PREFIX + r["target"])["action"]
            d = policy.act(self.env, state, rng)
            right += d.source == "model" and d.action == want
        return right / len(rows)

    def _target_tokens(self, rows: list[dict[str, Any]]) -> list[int]:
        """Tokens each target takes after its prompt (what greedy decoding must produce)."""
        tokenize = getattr(self.backend, "tokenize", None)
        if tokenize is None:
            return []
        return [len(tokenize(r["prompt"] + r["target"])) - len(tokenize(r["prompt"])) for r in rows]

    def _ensure_distiller(self) -> Distiller:
        if self.distiller is None:
            c = self.config
            self.distiller = Distiller(self.backend, rank=c.rank, alpha=2 * c.rank, lr=c.lr, epochs=c.epochs,
                                       batch_size=c.batch_size, seed=c.seed)
        return self.distiller

    # ---- the loop -------------------------------------------------------------------------------

    def run(self, iterations: int) -> dict[str, Any]:
        if not isinstance(iterations, int) or iterations < 1:
            raise ConfigError(f"iterations must be an integer >= 1, got {iterations!r}")
        started = time.perf_counter()
        self._check_settings()
        rows = self.finished()
        distiller = self._ensure_distiller()
        start = self.out / "adapters" / "iter-0"
        if not (start / "adapter_config.json").is_file():
            distiller.save(start)  # the untrained model (LoRA starts at zero): what a rejection can return to
        if len(rows) > 1:
            kept = rows[-1]["adapter"]
            distiller.load(self.out / kept)
            self._say(f"resuming after iteration {rows[-1]['iteration']} (adapter {self.out / kept})")
        partial = self.out / "iterations" / f"{len(rows):04d}.partial.json"
        self._load_dataset(len(rows) if partial.is_file() else (rows[-1]["iteration"] if rows else 0))
        base = self.baselines()
        self._say("baselines: " + "; ".join(f"{k} {self._headline(v)}" for k, v in base.items()))
        if not rows:
            self._say(f"iteration 0: measuring the untrained model on {len(self.plan.starts)} episodes")
            figures = self._measure(self._policy(0), keep_states=True)
            row0: dict[str, Any] = {"iteration": 0, **figures, "adapter": "adapters/iter-0"}
            if self.gated:
                self._say(f"iteration 0: validating the untrained model on {len(self.validation.starts)} episodes")
                row0["validation"] = self._validate(self._policy(0))
            rows.append(row0)
            _write_json(self.out / "iterations" / "0000.json", rows[0])
            self._say(f"iteration 0: {self._headline(figures)}")
            self._write_results(base, rows, started)
        for it in range(len(rows), iterations + 1):
            rows.append(self._iteration(it, rows[-1], base))
            _write_json(self.out / "iterations" / f"{it:04d}.json", rows[-1])
            (self.out / "iterations" / f"{it:04d}.partial.json").unlink(missing_ok=True)
            self._write_results(base, rows, started)
        return self._write_results(base, rows, started)

    @property
    def gated(self) -> bool:
        return self.config.validation_games > 0

    def _validate(self, policy: LanguagePolicy) -> dict[str, Any]:
        """The gate's measurement of a policy: its validation episodes only (never the measured ones)."""
        f = self._measure(policy, plan=self.validation)
        per = _per_episode(self.env, f)
        out = {"score": round(sum(per) / max(len(per), 1), 4), "metric": self.env.primary_metric,
               **{k: f[k] for k in self.env.metric_keys if k in f}, "ci95": f["ci95"],
               "fallbacks": f["fallbacks"], "moves": f["moves"],
               "fallback_rate": round(f["fallbacks"] / max(f["moves"], 1), 4),
               "failure_kinds": f.get("failure_kinds", {}), "measure_s": f["measure_s"]}
        self._say(f"  validation: {out['metric']} {out['score']}, fallbacks {out['fallbacks']}/{out['moves']} "
                  f"({out['measure_s']:.0f}s)")
        return out

    def _evaluate(self, it: int, policy: LanguagePolicy, previous: dict[str, Any]) -> dict[str, Any]:
        """Step 1-2: rollout evaluations of the selected states and their targets (added to the dataset)."""
        t0 = time.perf_counter()
        self._value_caller = policy.caller
        value_failures = self.evaluator.value_failures
        fallback_rollouts = self.evaluator.fallback_rollouts
        rng = random.Random(self.config.seed * 7919 + it)
        states = self._select(previous)
        self._say(f"iteration {it}: evaluating {len(states)} states by rollouts")
        before = self.ledger.copy()
        reports, new = [], []
        for j, state in enumerate(states, 1):
            report = self.evaluator.evaluate(state, policy, rng)
            reports.append(report)
            new.extend(self._examples(policy, report, it))
            if j % 10 == 0 or j == len(states):
                self._say(f"  {j}/{len(states)} states evaluated ({time.perf_counter() - t0:.0f}s)")
        lengths = self._target_tokens(new)
        over = sum(1 for n in lengths if n > self.config.max_tokens)
        if over:
            self._say(f"  warning: {over} of {len(lengths)} targets are longer than max_tokens="
                      f"{self.config.max_tokens} (longest {max(lengths)} tokens): their answers cannot be finished")
        return {"new": new, "evaluated_states": len(states),
                "improved_actions": dict(Counter(r.best for r in reports)),
                "rollout_model_calls": self.ledger.minus(before).total().calls,
                "evaluate_s": round(time.perf_counter() - t0, 2),
                "target_tokens": {"max": max(lengths, default=0),
                                  "mean": round(sum(lengths) / max(len(lengths), 1), 1), "over_max_tokens": over},
                "td_value_failures": self.evaluator.value_failures - value_failures,
                "fallback_rollouts": self.evaluator.fallback_rollouts - fallback_rollouts,
                "reports": [r.to_dict(self.env) for r in reports[:3]]}

    def _train_try(self, it: int, n: int, lr: float, start: str, new_ex: list[Example],
                   all_ex: list[Example]) -> dict[str, Any]:
        """One distillation try: from the adapter ``start`` (the current weights when it is the one
        in the model), at ``lr``; saved as ``adapters/iter-it`` (try 1) or ``iter-it-retry``."""
        distiller = self._ensure_distiller()
        if n > 1:  # a retry: back to the kept adapter, fresh optimizer state at the lower lr
            distiller.load(self.out / start)
            distiller.reset_optimizer(lr)
        loss_before = distiller.loss(new_ex)
        self._say(f"iteration {it} try {n}: training on {len(all_ex)} targets ({len(new_ex)} new; "
                  f"loss on new {loss_before:.3f}; lr {lr:g}; from {start})")
        select = (lambda: self.decision_accuracy(it)) if self.options["select_epoch"] else None
        fit = distiller.fit(all_ex, progress=self._say, select=select)
        loss_after = distiller.loss(new_ex)
        by_kind = {kind: round(distiller.loss([e for e in new_ex if e.kind == kind]), 4)
                   for kind in sorted({e.kind for e in new_ex})}
        adapter = distiller.save(self.out / "adapters" / (f"iter-{it}" if n == 1 else f"iter-{it}-retry"))
        return {"try": n, "lr": lr, "start_adapter": start, "adapter": str(adapter.relative_to(self.out)),
                "train": {**fit, "loss_before": round(loss_before, 4), "loss_after": round(loss_after, 4),
                          "loss_after_by_kind": by_kind, "lr": lr,
                          "trainable_params": distiller.trainable, "total_params": distiller.total}}

    def _iteration(self, it: int, previous: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        partial_path = self.out / "iterations" / f"{it:04d}.partial.json"
        partial = json.loads(partial_path.read_text(encoding="utf-8")) if partial_path.is_file() else None
        if partial is None:
            ev = self._evaluate(it, self._policy(it), previous)
            for row in ev["new"]:
                self.dataset[(row["kind"], row["key"])] = row
            self._save_dataset()
            partial = {"evaluation": ev, "tries": []}
            _write_json(partial_path, partial)
        else:
            ev = partial["evaluation"]
            self._say(f"iteration {it}: resuming after {len(partial['tries'])} finished tries")
        new = ev["new"]
        new_ex = [Example(r["prompt"], r["target"], r["kind"]) for r in new]
        all_ex = [Example(r["prompt"], r["target"], r["kind"]) for r in self.dataset.values()]
        kept_before = previous["adapter"]
        tries: list[dict[str, Any]] = partial["tries"]
        c = self.config
        max_tries = 2 if self.gated else 1
        while len(tries) < max_tries and not (tries and tries[-1]["accepted"]):
            n = len(tries) + 1
            lr = c.lr if n == 1 else c.lr * c.retry_lr_factor
            t = self._train_try(it, n, lr, kept_before, new_ex, all_ex)
            if self.gated:
                self._say(f"iteration {it} try {n}: validating on {len(self.validation.starts)} episodes")
                t["validation"] = self._validate(self._policy(it))
                t["rejected_because"] = gate_reason(t["validation"], previous["validation"])
                t["accepted"] = t["rejected_because"] is None
                self._say(f"iteration {it} try {n}: " + ("accepted" if t["accepted"] else
                                                          f"rejected ({t['rejected_because']})"))
            else:
                t["accepted"] = True
            tries.append(t)
            _write_json(partial_path, partial)  # a kill after this point does not redo the try
        final = tries[-1]
        distiller = self._ensure_distiller()
        if final["accepted"]:
            kept = final["adapter"]
            distiller.load(self.out / kept)  # the model holds it already, unless this is a resume
            if final["try"] > 1:
                distiller.reset_optimizer(c.lr)  # the next iteration starts at the configured lr again
            self._say(f"iteration {it}: measuring the trained model")
            figures = self._measure(self._policy(it), keep_states=True)
            reason = ("no gate (validation_games 0)" if not self.gated else
                      f"try {final['try']} validated no worse than the kept policy")
        else:
            kept = kept_before
            distiller.load(self.out / kept)
            distiller.reset_optimizer(c.lr)
            # the same adapter on the same episodes (greedy play, seeded fallbacks): its measurement stands
            figures = {k: v for k, v in previous.items() if k not in NOT_MEASURED}
            figures["measured_by"] = previous.get("measured_by", previous["iteration"])
            reason = f"both tries validated worse than the kept policy; kept {kept}"
        gain = self._gain(previous, figures)
        row = {"iteration": it, **figures, "gain": gain,
               "evaluated_states": ev["evaluated_states"], "new_targets": len(new), "targets": len(all_ex),
               **{k: ev[k] for k in ("improved_actions", "rollout_model_calls", "evaluate_s", "target_tokens",
                                     "td_value_failures")},
               "fallback_rollouts": ev.get("fallback_rollouts", 0),
               "train": final["train"], "adapter": kept,
               "gate": {"accepted": final["accepted"], "kept": kept, "reason": reason,
                        "compared_with": previous.get("validation"),
                        "tries": [{k: v for k, v in t.items()} for t in tries]},
               "reports": ev["reports"],
               "wall_s": round(time.perf_counter() - t0, 2)}
        if self.gated:
            row["validation"] = final["validation"] if final["accepted"] else previous["validation"]
        self._say(f"iteration {it}: {self._headline(figures)}; gain {gain['value']:+.3f} "
                  f"[{gain['ci95'][0]:+.3f}, {gain['ci95'][1]:+.3f}]; kept {kept} ({row['wall_s']:.0f}s)")
        return row

    def _gain(self, previous: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
        """Primary metric minus the previous iteration's, paired by episode (same starts and
        opponent seeds), with a bootstrap 95% interval."""
        from ..bench.metrics import bootstrap_interval

        diffs = [a - b for a, b in zip(_per_episode(self.env, figures), _per_episode(self.env, previous))]
        value = sum(diffs) / len(diffs) if diffs else 0.0
        return {"metric": self.env.primary_metric, "value": round(value, 4),
                "ci95": _interval(bootstrap_interval(diffs, seed=self.config.seed))}

    def _headline(self, figures: dict[str, Any]) -> str:
        parts = [f"{k}={figures[k]}" for k in self.env.metric_keys if k in figures]
        if "fallbacks" in figures:
            parts.append(f"fallbacks={figures['fallbacks']}")
        return ", ".join(parts)

    def _write_results(self, base: dict[str, Any], rows: list[dict[str, Any]], started: float) -> dict[str, Any]:
        drop = ("visited", "returns")
        result = {
            "env": self.env.name, "layout": getattr(getattr(self.env, "layout", None), "name", None),
            "opponent": getattr(self.env, "opponent", None), "metric": self.env.primary_metric,
            "settings": self.config.to_dict(), "model": getattr(self.backend, "model_name", "?"),
            "backend": getattr(self.backend, "name", "?"), "device": getattr(self.backend, "device", None),
            "episodes": len(self.plan.starts),
            "episode_seeds": list(self.plan.seeds), "validation_seeds": list(self.validation.seeds),
            "baselines": {k: {kk: vv for kk, vv in v.items() if kk not in drop} for k, v in base.items()},
            "iterations": [{k: v for k, v in r.items() if k not in drop} for r in rows],
            "usage": self.ledger.to_dict(),
            "wall_s_this_session": round(time.perf_counter() - started, 2),
        }
        _write_json(self.out / "results.json", result)
        try:
            from .plot import plot_learning

            plot_learning(result, self.out / "gpi.png")
        except ImportError:  # matplotlib is a core dependency; a broken install must not lose the run
            pass
        return result
