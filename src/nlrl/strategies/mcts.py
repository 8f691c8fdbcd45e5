"""Monte-Carlo tree search over reasoning steps (after RAP: Hao et al. 2023, "Reasoning with
Language Model is Planning with World Model", arXiv 2305.14992; llm-reasoners' ``MCTS``), with
NLRL's language value function as one of its evaluators.

A node is a partial solution (one step per line, the ``stepwise`` prompt); the root is the empty
one. Each iteration:

1. **select**: from the root, descend to the child with the highest UCT score
   ``Q + exploration * sqrt(ln N_parent / max(1, N_child))`` (``Q``: the mean of the values
   backed up through the child, or its own evaluation while it has none) until a node that has
   not been expanded, or a finished one;
2. **expand**: sample ``expansions`` next steps of that node in one call (one completion stopped
   at a newline is one step; repeats are merged); each new child is **evaluated**:

   * ``evaluator="reward"`` (default): a process reward's step scores (a PRM, or the model's own
     log-probabilities when none is given), combined by ``aggregation``;
   * ``evaluator="value"``: the language value V^L (:class:`nlrl.gpi.value.SolutionValue`, the
     ``gpi/prompts/reasoning.yaml`` prompt): the model writes its reasoning about the steps so
     far and a number in [0, 1]. Its calls generate tokens, and they count against the budget;

3. **rollout** (``rollout=True``): the best new child is continued to the end of a solution in one
   call and the finished rollout is evaluated; its value is what is backed up (without a
   rollout, the best new child's own evaluation is);
4. **back up**: every node on the path from the root to that child gets one more visit and the
   value added to its total.

A finished node (its last step is the final-answer line) is not expanded; selecting it backs up
its evaluation again at no cost. The search stops after ``iterations`` (default: 4 x the
budget's n), when the token budget cannot pay for one more expansion with its evaluations (and
rollout), or when no node is left to expand. The answer is the finished node with the highest
``Q`` (ties: more visits, then the earlier node); when no node finished, the end of the most
visited path is used and a ``fallback`` event says so.

Trace events (node ids are integers, the root is 0, so the tree can be drawn): ``expand`` (the
node, its new children with their text, value, finished flag and parent), ``evaluate`` (with the
language value: the thought and final evaluation of each child), ``rollout``, ``backup`` (the
path of node ids, the value, each node's visits and Q after the update), ``fallback``, ``stop``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

from .._exceptions import ConfigError
from ..backends import Generation, SamplingParams
from .base import Run, Strategy, StrategyResult, check_int
from .beam import AGGREGATES, Beam, expand, finishes, process_reward, score_paths, split_steps, step_prompt
from .sampling import sampling_temperature

log = logging.getLogger(__name__)

EVALUATORS = ("reward", "value")


@dataclass
class Node:
    """A node of the search tree: a partial solution, its evaluation and its statistics."""

    id: int
    parent: int | None
    path: Beam
    prior: float = 0.0          # the evaluator's value of this node
    visits: int = 0
    total: float = 0.0          # sum of the values backed up through it
    children: list[int] = field(default_factory=list)
    expanded: bool = False

    @property
    def q(self) -> float:
        return self.total / self.visits if self.visits else self.prior

    @property
    def done(self) -> bool:
        return self.path.done


def uct(child: Node, parent_visits: int, exploration: float) -> float:
    """``Q + c * sqrt(ln N_parent / max(1, N_child))`` (llm-reasoners' form)."""
    return child.q + exploration * math.sqrt(math.log(max(1, parent_visits)) / max(1, child.visits))


def backup(nodes: dict[int, Node], path: Sequence[int], value: float) -> None:
    """One more visit and ``value`` added to every node on ``path``."""
    for i in path:
        nodes[i].visits += 1
        nodes[i].total += value


class _RunBackend:
    """The run as a backend for :class:`~nlrl.gpi.llm.JsonCaller`: its calls go through
    :meth:`Run.generate`, so the language value's tokens are the run's tokens."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def generate(self, prompts: Sequence[str], params: SamplingParams, **_: Any) -> list[Generation]:
        return self.run.generate(prompts, params, stream=False, kind="value")


class MCTS(Strategy):
    """Monte-Carlo tree search over reasoning steps (module docstring).

    ``iterations`` (default 4 x the budget's n); ``expansions`` children per expansion;
    ``max_steps`` the deepest a path may grow; ``step_tokens`` caps a step; ``exploration`` the
    UCT constant; ``evaluator`` ``reward`` or ``value``; ``aggregation`` combines step scores
    (reward evaluator); ``reward`` a process reward (default: the run's if it scores steps, else
    log-probabilities); ``rollout`` continues the best new child to an answer
    (``rollout_tokens`` long at most, default the budget's max_tokens); ``value_tokens`` caps one
    language-value answer.
    """

    name = "mcts"

    def __init__(self, iterations: int | None = None, *, expansions: int = 2, max_steps: int = 8,
                 step_tokens: int = 64, temperature: float | None = None, exploration: float = 1.0,
                 evaluator: str = "reward", aggregation: str = "min", reward: Any = None,
                 rollout: bool = False, rollout_tokens: int | None = None, value_tokens: int = 48,
                 strict: bool = False) -> None:
        for label, v in (("iterations", iterations), ("expansions", expansions), ("max_steps", max_steps),
                         ("step_tokens", step_tokens), ("rollout_tokens", rollout_tokens),
                         ("value_tokens", value_tokens)):
            check_int("mcts", label, v)
        if evaluator not in EVALUATORS:
            raise ConfigError(f"mcts evaluator must be one of {', '.join(EVALUATORS)}, got {evaluator!r}")
        if aggregation not in AGGREGATES:
            raise ConfigError(f"mcts aggregation must be one of {', '.join(AGGREGATES)}, got {aggregation!r}")
        if (isinstance(exploration, bool) or not isinstance(exploration, (int, float))
                or not math.isfinite(exploration) or exploration < 0):
            raise ConfigError(f"mcts exploration must be a number >= 0, got {exploration!r}")
        self.iterations = iterations
        self.expansions = expansions
        self.max_steps = max_steps
        self.step_tokens = step_tokens
        self.temperature = temperature
        self.exploration = float(exploration)
        self.evaluator = evaluator
        self.aggregation = aggregation
        self.reward = reward
        self.rollout = bool(rollout)
        self.rollout_tokens = rollout_tokens
        self.value_tokens = value_tokens
        self.strict = strict

    # -- the search ------------------------------------------------------------------------------

    def run(self, run: Run) -> StrategyResult:
        iterations = self.iterations or 4 * run.budget.n
        prm = process_reward(self.reward, run, "mcts") if self.evaluator == "reward" else None
        value = self._language_value(run) if self.evaluator == "value" else None
        temp = sampling_temperature(run, self.temperature)
        base = step_prompt(run)
        step_cap = min(self.step_tokens, run.budget.max_tokens)
        roll_cap = min(self.rollout_tokens or run.budget.max_tokens, run.budget.max_tokens)
        eval_cap = self.value_tokens if value is not None else 0
        # what one iteration may generate at most: the expansion, an evaluation of every child,
        # and the rollout with its evaluation
        need = self.expansions * (step_cap + eval_cap) + (roll_cap + eval_cap if self.rollout else 0)
        nodes = {0: Node(0, None, Beam(slot=0), expanded=False)}
        stopped = f"{iterations} iterations"
        for it in range(iterations):
            path = self._select(nodes)
            leaf = nodes[path[-1]]
            if leaf.done or leaf.expanded or leaf.path.depth >= self.max_steps:
                if leaf.id == 0 or all(self._closed(nodes, i) for i in nodes):
                    stopped = "nothing left to expand"
                    break
                leaf.expanded = True  # a dead end or a finished node: its own value, again, for free
                backup(nodes, path, leaf.prior)
                self._backup_event(run, nodes, path, leaf.prior, it, "revisit")
                continue
            left = run.tokens_left()
            if left is not None and left < need:
                stopped = "token budget spent"
                break
            seed = None if run.budget.seed is None else run.budget.seed + it * 1000
            cands = expand(run, prm, base, [leaf.path], n=self.expansions, step_cap=step_cap,
                           temperature=temp, seed=seed)[0]
            values = self._evaluate(run, prm, value, cands)
            leaf.expanded = True
            kids = []
            for c, v in zip(cands, values):
                kid = Node(len(nodes), leaf.id, replace(c, slot=len(nodes), parent=leaf.id), prior=v)
                nodes[kid.id] = kid
                leaf.children.append(kid.id)
                kids.append(kid)
            run.event("expand", "", iteration=it, node=leaf.id, depth=leaf.path.depth,
                      children=[{"id": k.id, "parent": leaf.id, "text": k.path.steps[-1] if k.path.steps else "",
                                 "value": round(k.prior, 4), "done": k.done} for k in kids])
            if not kids:  # no new step: the node is a dead end, valued as it stands
                backup(nodes, path, leaf.prior)
                self._backup_event(run, nodes, path, leaf.prior, it, "dead end")
                continue
            best = max(kids, key=lambda k: (k.prior, -k.id))
            v = best.prior
            if self.rollout and not best.done:
                v = self._rollout(run, prm, value, base, best, roll_cap, temp, seed)
            backup(nodes, path + [best.id], v)
            self._backup_event(run, nodes, path + [best.id], v, it, "rollout" if self.rollout else "expansion")
        return self._finish(run, nodes, stopped)

    def _select(self, nodes: dict[int, Node]) -> list[int]:
        path = [0]
        node = nodes[0]
        while node.expanded and node.children and not node.done:
            parent_visits = node.visits
            node = max((nodes[c] for c in node.children),
                       key=lambda ch: (uct(ch, parent_visits, self.exploration), -ch.id))
            path.append(node.id)
        return path

    def _closed(self, nodes: dict[int, Node], i: int) -> bool:
        n = nodes[i]
        return n.done or n.expanded or n.path.depth >= self.max_steps

    # -- evaluation ------------------------------------------------------------------------------

    def _language_value(self, run: Run) -> Any:
        # layering: the language value is NLRL's (nlrl.gpi), borrowed only when evaluator="value"
        from ..gpi.llm import JsonCaller
        # layering: as above; one value prompt and parser, not a second copy in strategies/
        from ..gpi.value import SolutionValue

        caller = JsonCaller(_RunBackend(run), retries=0, temperature=0.0, max_tokens=self.value_tokens,
                            seed=run.budget.seed or 0)
        return SolutionValue(caller, max_tokens=self.value_tokens)

    def _evaluate(self, run: Run, prm: Any, value: Any, cands: Sequence[Beam]) -> list[float]:
        if value is None:
            return [c.value(self.aggregation) if c.steps else 0.0
                    for c in score_paths(run, prm, cands, strict=self.strict)]
        # layering: the language value's parser (evaluator="value" only; see _language_value)
        from ..gpi.value import numeric_value

        out = []
        for c in cands:
            ev = value.evaluate(run.task.question, c.steps)
            v = numeric_value(ev)
            run.event("evaluate", ev.thought, step=c.steps[-1] if c.steps else "", final=ev.final,
                      value=None if v is None else round(v, 4))
            if v is None:
                log.info("mcts: the language value did not give a number in [0, 1] (%r); 0.5 used", ev.final)
                run.event("fallback", "value not a number in [0, 1]: 0.5 used", final=ev.final)
                v = 0.5
            out.append(v)
        return out

    def _rollout(self, run: Run, prm: Any, value: Any, base: str, node: Node, cap: int, temp: float,
                 seed: int | None) -> float:
        params = run.params(n=1, temperature=temp, seed=seed, max_tokens=cap,
                            stop=("\n\n", "Question:"), logprobs=prm is not None and _wants(prm))
        comp = run.generate([base + "\n" + node.path.text], params, stream=False, kind="rollout")[0].completions[0]
        steps = list(node.path.steps)
        finished = False
        for line in split_steps(comp.text):
            steps.append(line)
            if finishes(line):
                finished = True
                break
        if prm is not None and _wants(prm):
            from .scoring import feed

            feed(run, prm, [(comp.text.strip(), comp.logprobs)])  # its lines are scored from these
        end = Beam(tuple(steps), (), finished, node.path.depth)
        v = self._evaluate(run, prm, value, [end])[0] if steps else node.prior
        run.event("rollout", comp.text, node=node.id, tokens=comp.num_tokens, finished=finished,
                  answer=run.task.extract(end.text) if finished else None, value=round(v, 4))
        return v

    # -- the answer ------------------------------------------------------------------------------

    def _finish(self, run: Run, nodes: dict[int, Node], stopped: str) -> StrategyResult:
        done = [n for n in nodes.values() if n.done and n.path.steps]
        if done:
            best = max(done, key=lambda n: (n.q, n.visits, -n.id))
        else:
            path = [0]
            node = nodes[0]
            while node.children:
                node = max((nodes[c] for c in node.children), key=lambda ch: (ch.visits, ch.q, -ch.id))
                path.append(node.id)
            best = node
            if best.id == 0:
                run.event("stop", stopped, finished=0, nodes=len(nodes))
                return run.result(self.name, None, "", finished=0, nodes=len(nodes), stopped=stopped)
            log.info("mcts: no path wrote a final answer (%s); using the most visited path", stopped)
            run.event("fallback", "unfinished path", reason=stopped, path=path)
        answer = run.task.extract(best.path.text)
        run.event("stop", stopped, finished=len(done), nodes=len(nodes), chosen=best.id,
                  q=round(best.q, 4), visits=best.visits)
        return run.result(self.name, answer, best.path.text, score=best.q, finished=len(done),
                          nodes=len(nodes), stopped=stopped)

    def _backup_event(self, run: Run, nodes: dict[int, Node], path: Sequence[int], v: float, it: int,
                      why: str) -> None:
        run.event("backup", why, iteration=it, path=list(path), value=round(v, 4),
                  visits=[nodes[i].visits for i in path], q=[round(nodes[i].q, 4) for i in path])


def _wants(prm: Any) -> bool:
    from .scoring import wants_logprobs

    return wants_logprobs(prm)
