"""Learning GPI end to end on a tiny randomly initialised Gemma 3 model (built here, offline):
rollout evaluations, LoRA distillation, adapters saved and loaded back, resume, legal moves only."""

from __future__ import annotations

import json
import random

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from nlrl import ConfigError  # noqa: E402
from nlrl.backends.hf import HFBackend  # noqa: E402
from nlrl.gpi import make_env  # noqa: E402
from nlrl.gpi.envs import Board  # noqa: E402
from nlrl.gpi.learn import LearnConfig, LearningRun, json_target  # noqa: E402
from nlrl.gpi.policy import RandomPolicy  # noqa: E402
from nlrl.gpi.rollouts import RolloutEvaluator  # noqa: E402
from nlrl.gpi.train import Distiller, Example  # noqa: E402

# one thread: on shared cores, torch's default of one per core makes a tiny model ~10x slower
torch.set_num_threads(1)


def build_tiny_gemma3(path) -> None:
    """A 2-layer Gemma 3 (text) with a byte-level BPE tokenizer trained on board texts."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    env = make_env("tictactoe")
    corpus = [env.describe(Board()), '{"thought": "5 wins 80%, loses 0%", "action": "5"}',
              '{"thought": "up reward -3", "final_evaluation": "winning"}', "Tic-tac-toe. Maze. JSON on one line."] * 5
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "<eos>", "<bos>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>")
    cfg = Gemma3TextConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
                           sliding_window=64, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    torch.manual_seed(0)
    Gemma3ForCausalLM(cfg).save_pretrained(path)
    fast.save_pretrained(path)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-gemma3")
    build_tiny_gemma3(path)
    return path


@pytest.fixture
def backend(tiny_dir):
    b = HFBackend(str(tiny_dir), device="cpu", chat=False)
    yield b
    b.close()


SMALL = dict(games=4, states=3, policy_rollouts=1, random_rollouts=4, rollout_moves=4, epochs=2, lr=5e-3,
             batch_size=4, max_tokens=12, retries=0, validation_games=2)


def test_rollout_evaluations_are_grounded_and_sourced():
    env = make_env("tictactoe")
    # X holds 1 and 2: 3 wins at once, whatever follows
    board = Board(("X", "X", "", "O", "O", "", "", "", ""))
    report = RolloutEvaluator(env, policy_rollouts=0, random_rollouts=8, max_moves=3).evaluate(
        board, RandomPolicy(), random.Random(0))
    assert report.best == "3"
    assert report.report("3").returns["random"] == (1.0,) * 8
    assert report.reasoning.startswith("3 wins at once")
    assert report.value.source == "rollouts" and report.value.final == "winning"
    assert all(a.evaluation.source == "rollouts" for a in report.actions)
    assert {a.action for a in report.actions} == set(board.empty())
    # a maze: the move into the goal is chosen, and every action's evaluation names its rollouts
    maze = make_env("maze:umaze")
    near = maze.reset(random.Random(0), (2, 3))
    r = RolloutEvaluator(maze, policy_rollouts=0, random_rollouts=4, max_moves=6).evaluate(
        near, RandomPolicy(), random.Random(0))
    assert r.best == "down" and "reaches the goal" in r.reasoning


def test_json_targets_parse_back():
    from nlrl.gpi.llm import THOUGHT_PREFIX
    from nlrl.gpi.parsing import parse_json_answer

    t = json_target(thought='5 "wins" 80%', action="5")
    assert t.endswith("\n")
    assert parse_json_answer(t, prefix=THOUGHT_PREFIX, required={"thought": str, "action": str}) == {
        "thought": '5 "wins" 80%', "action": "5"}


def test_training_lowers_loss_and_adapter_loads_back(backend, tmp_path, tiny_dir):
    examples = [Example(f"Board {i}: " + '{"thought": "', json_target(thought=f"{i} wins", action=str(i)))
                for i in range(1, 5)]
    d = Distiller(backend, rank=4, lr=1e-2, epochs=6, batch_size=4)
    before = d.loss(examples)
    fit = d.fit(examples)
    after = d.loss(examples)
    assert after < before and fit["epoch_loss"][-1] < fit["epoch_loss"][0]
    d.save(tmp_path / "a")
    # a fresh model with the adapter loaded back scores the targets as the trained one does
    other = HFBackend(str(tiny_dir), device="cpu", chat=False)
    d2 = Distiller(other, rank=4, lr=1e-2)
    assert abs(d2.loss(examples) - before) < 1e-4  # peft starts LoRA at zero: the base model
    d2.load(tmp_path / "a")
    assert abs(d2.loss(examples) - after) < 1e-4
    with pytest.raises(ConfigError):
        d2.load(tmp_path / "missing")


def test_loss_on_target_positions_only_equals_the_full_loss(backend):
    # prompts of different lengths: the kept positions start at the earliest target token
    examples = [Example("Board: " * (i + 1) + '{"thought": "', json_target(thought=f"{i} wins", action=str(i)))
                for i in range(1, 4)]
    d = Distiller(backend, rank=4, batch_size=3)
    assert backend._keep_kw  # Gemma 3 takes logits_to_keep
    kept = d.loss(examples)
    backend._keep_kw = None  # every position through the output layer
    try:
        full = d.loss(examples)
    finally:
        backend._keep_kw = "logits_to_keep"
    assert abs(kept - full) < 1e-5


@pytest.mark.parametrize("spec", ["tictactoe", "maze:umaze"])
def test_learning_loop_resumes_and_never_plays_illegal_moves(backend, tmp_path, tiny_dir, spec):
    env = make_env(spec)
    out = tmp_path / "run"
    first = LearningRun(env, backend, out, LearnConfig(**SMALL)).run(iterations=1)
    assert [r["iteration"] for r in first["iterations"]] == [0, 1]
    it1 = first["iterations"][1]
    assert it1["train"]["loss_after"] < it1["train"]["loss_before"]
    assert (out / "adapters" / "iter-1" / "adapter_config.json").is_file()
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"policy", "value"} and all(r["source"] == "rollouts" for r in rows)
    # a second process (a fresh model) resumes: iteration 1 is not redone, iteration 2 is added
    other = HFBackend(str(tiny_dir), device="cpu", chat=False)
    second = LearningRun(env, other, out, LearnConfig(**SMALL)).run(iterations=2)
    assert [r["iteration"] for r in second["iterations"]] == [0, 1, 2]
    assert second["iterations"][1] == json.loads(json.dumps(first["iterations"][1]))
    # the untrained model's failed answers are kept verbatim and counted by kind
    row0 = json.loads((out / "iterations" / "0000.json").read_text())
    assert len(row0["failed_answers"]) == min(40, sum(row0["failure_kinds"].values()))
    assert all(f["texts"] and f["errors"] for f in row0["failed_answers"])
    assert it1["target_tokens"]["max"] >= it1["target_tokens"]["mean"] > 0
    for row in second["iterations"]:
        assert row["illegal_moves"] == 0  # the legal-move mask; failures become counted fallbacks
        assert row["fallbacks"] == row["action_sources"].get("fallback", 0)
        assert sum(row["action_sources"].values()) == row["moves"]
    assert (out / "gpi.png").stat().st_size > 0
    saved = json.loads((out / "results.json").read_text())
    assert saved["iterations"][-1]["gain"]["ci95"][0] <= saved["iterations"][-1]["gain"]["value"]
    # other settings in the same directory are refused, not mixed
    with pytest.raises(ConfigError, match="other settings"):
        LearningRun(env, other, out, LearnConfig(**{**SMALL, "states": 5})).run(iterations=3)


def test_failure_kinds_name_why_an_answer_failed():
    from nlrl.gpi.learn import failed_answers
    from nlrl.gpi.llm import THOUGHT_PREFIX
    from nlrl.gpi.parsing import parse_json_answer
    from nlrl.gpi.policy import POLICY_KEYS

    def error(text):
        with pytest.raises(Exception) as exc:
            parse_json_answer(text, prefix=THOUGHT_PREFIX, required=POLICY_KEYS)
        return str(exc.value)

    fails = [{"state": "s", "texts": [t], "errors": [error(t)]}
             for t in ('5 wins 80%, loses 0%", "act', '5 wins", "value": 1}', '5 wins", "action": 5,}')]
    fails.append({"state": "s", "texts": ['x", "action": "1"}'], "errors": ["'1' is not legal here (2, 3)"]})
    out = failed_answers(fails, keep=2)
    assert out["failure_kinds"] == {"unfinished JSON (cut at max_tokens or the line's end)": 1, "missing key": 1,
                                    "invalid JSON": 1, "illegal action": 1}
    assert len(out["failed_answers"]) == 2


def test_config_checks():
    with pytest.raises(ConfigError, match="states"):
        LearnConfig(states=0)
    with pytest.raises(ConfigError, match="rollouts"):
        LearnConfig(policy_rollouts=0, random_rollouts=0)


def test_cli_learn_writes_a_resumable_run(tiny_dir, tmp_path):
    from typer.testing import CliRunner

    from nlrl.cli import app

    out = tmp_path / "cli-run"
    args = ["gpi", "--env", "tictactoe", "--learn", "--iterations", "1", "--out", str(out), "--model", str(tiny_dir),
            "--games", "2", "--states", "2", "--policy-rollouts", "0", "--random-rollouts", "2",
            "--rollout-moves", "2", "--epochs", "1", "--max-tokens", "6", "--retries", "0", "--device", "cpu", "--validation-games", "2", "-q"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    result = json.loads((out / "results.json").read_text())
    assert [r["iteration"] for r in result["iterations"]] == [0, 1]
    bad = CliRunner().invoke(app, args[:-1] + ["--backend", "embedded"])
    assert bad.exit_code == 1 and "hf backend" in bad.output


def test_td_variant_reads_the_models_values(backend, tmp_path):
    env = make_env("tictactoe")
    cfg = LearnConfig(**{**SMALL, "games": 2, "states": 2, "estimator": "td", "lookaheads": 1, "epochs": 1})
    result = LearningRun(env, backend, tmp_path / "td", cfg).run(iterations=1)
    row = result["iterations"][1]
    # every non-final successor asked the model for V^L; the untrained model's failures are counted
    assert row["rollout_model_calls"] >= row["td_value_failures"] >= 0
    assert result["usage"]["by_role"]["value"]["requests"] > 0
    values = [json.loads(line) for line in (tmp_path / "td" / "dataset.jsonl").read_text().splitlines()
              if json.loads(line)["kind"] == "value"]
    assert values and all(v["source"] == "rollouts+model" for v in values)
    with pytest.raises(ConfigError, match="estimator"):
        LearnConfig(estimator="sarsa")


# ---- the validation gate ---------------------------------------------------------------------------


def _scripted_validation(run, scores, log):
    """Replace the gate's measurement with scripted outcomes (score, fallbacks of 10 moves); each
    call records the loss of the current weights on the dataset, i.e. which adapter was validated.
    A score of None is a kill."""
    def validate(policy):
        if not scores:
            raise AssertionError("validated more often than expected")
        score = scores.pop(0)
        if score is None:
            raise KeyboardInterrupt("killed")
        log.append(score)
        fb = 0 if isinstance(score, float) else score[1]
        s = score if isinstance(score, float) else score[0]
        return {"score": s, "metric": "win", "fallbacks": fb, "moves": 10, "fallback_rate": fb / 10}
    run._validate = validate


GATED = {**SMALL, "games": 2, "states": 2, "epochs": 1, "validation_games": 3}


def test_gate_retries_at_a_lower_lr_from_the_kept_adapter_then_keeps_it(backend, tmp_path):
    env = make_env("tictactoe")
    run = LearningRun(env, backend, tmp_path / "g", LearnConfig(**GATED))
    seen: list = []
    # untrained 0.5; iteration 1: worse, then worse by fallbacks -> rejected; iteration 2: accepted
    _scripted_validation(run, [0.5, 0.25, (0.5, 3), 0.75], seen)
    result = run.run(iterations=2)
    it0, it1, it2 = result["iterations"]
    gate = it1["gate"]
    assert not gate["accepted"] and it1["adapter"] == "adapters/iter-0" == gate["kept"]
    t1, t2 = gate["tries"]
    assert t1["lr"] == GATED["lr"] and t2["lr"] == GATED["lr"] * 0.25 and t2["train"]["lr"] == t2["lr"]
    assert t1["start_adapter"] == t2["start_adapter"] == "adapters/iter-0"
    # the retry starts from the kept weights, not from the rejected try's
    assert t2["train"]["loss_before"] == pytest.approx(t1["train"]["loss_before"], abs=1e-4)
    assert "win 0.25 < 0.5" in t1["rejected_because"] and "fallback rate" in t2["rejected_because"]
    assert (tmp_path / "g" / t2["adapter"] / "adapter_config.json").is_file()
    # the rejected iteration keeps the previous policy: its validation and its measurement stand
    assert it1["validation"] == it0["validation"] and it1["win"] == it0["win"] and it1["gain"]["value"] == 0
    assert it1["measured_by"] == 0
    g2 = it2["gate"]
    assert g2["compared_with"] == it0["validation"] and g2["accepted"] and len(g2["tries"]) == 1
    assert g2["tries"][0]["start_adapter"] == "adapters/iter-0" and it2["adapter"] == "adapters/iter-2"
    assert it2["validation"]["score"] == 0.75 and "measured_by" not in it2
    assert run.distiller._opt.param_groups[0]["lr"] == GATED["lr"]
    assert seen == [0.5, 0.25, (0.5, 3), 0.75]  # each policy validated once: iteration 0 is not revalidated


def test_gate_resumes_between_tries_with_its_decisions(backend, tmp_path, tiny_dir):
    env = make_env("tictactoe")
    out = tmp_path / "r"
    run = LearningRun(env, backend, out, LearnConfig(**GATED))
    seen: list = []
    _scripted_validation(run, [0.5, 0.25, None], seen)  # killed while validating the retry
    with pytest.raises(KeyboardInterrupt):
        run.run(iterations=1)
    partial = json.loads((out / "iterations" / "0001.partial.json").read_text())
    assert [t["try"] for t in partial["tries"]] == [1] and not partial["tries"][0]["accepted"]
    other = HFBackend(str(tiny_dir), device="cpu", chat=False)
    again = LearningRun(env, other, out, LearnConfig(**GATED))
    resumed: list = []
    _scripted_validation(again, [0.75], resumed)  # only the retry is validated again
    result = again.run(iterations=1)
    row = result["iterations"][1]
    assert resumed == [0.75]
    t1, t2 = row["gate"]["tries"]
    assert t1 == partial["tries"][0]  # the first try's decision is kept, not redone
    assert t2["accepted"] and t2["lr"] == GATED["lr"] * 0.25 and row["adapter"] == "adapters/iter-1-retry"
    assert t2["train"]["loss_before"] == pytest.approx(t1["train"]["loss_before"], abs=1e-4)
    assert row["evaluated_states"] == partial["evaluation"]["evaluated_states"]
    assert not (out / "iterations" / "0001.partial.json").exists()
    rows = [json.loads(line) for line in (out / "dataset.jsonl").read_text().splitlines()]
    assert {r["iteration"] for r in rows} == {1}


def test_no_gate_when_validation_games_is_zero(backend, tmp_path):
    env = make_env("tictactoe")
    result = LearningRun(env, backend, tmp_path / "n", LearnConfig(**{**GATED, "validation_games": 0})).run(1)
    row = result["iterations"][1]
    assert "validation" not in row and "validation" not in result["iterations"][0]
    assert row["gate"]["accepted"] and len(row["gate"]["tries"]) == 1 and row["adapter"] == "adapters/iter-1"
    assert result["validation_seeds"] == []


@pytest.mark.parametrize("spec", ["tictactoe", "maze:umaze"])
def test_validation_seeds_never_meet_the_measured_ones(spec):
    from nlrl.gpi.learn import validation_plan
    from nlrl.gpi.loop import EpisodePlan

    env = make_env(spec)
    plan = EpisodePlan.build(env, 100, 1, 0)
    for avoid in (plan, EpisodePlan.build(env, 100, 1, 1_000_003)):  # the second: every drawn seed collides
        val = validation_plan(env, 30, 1, 0, avoid)
        near = {s + d for s in avoid.seeds for d in (-1, 0, 1)}
        assert len(val.seeds) == len(val.starts) and not near & set(val.seeds)
        assert len(set(val.seeds)) == len(val.seeds)
    with pytest.raises(ConfigError, match="validation_games"):
        LearnConfig(validation_games=-1)
    with pytest.raises(ConfigError, match="retry_lr_factor"):
        LearnConfig(retry_lr_factor=0)


def test_selected_states_are_positions_with_a_fresh_step_budget(tmp_path):
    from nlrl.backends.scripted import ScriptedBackend
    from nlrl.gpi.envs.maze import MazeState

    env = make_env("maze:umaze")
    run = LearningRun(env, ScriptedBackend(), tmp_path, LearnConfig(games=6, states=10, validation_games=0))
    # (3, 1) is a dead end (only up); (1, 1) and (2, 3) have a choice; (3, 3) is the goal
    previous = {"visited": [{"state": [3, 1, 57], "visits": 9}, {"state": [1, 1, 80], "visits": 3},
                            {"state": [2, 3, 4], "visits": 1}, {"state": [3, 3, 9], "visits": 1}]}
    assert run._select(previous) == [MazeState(1, 1), MazeState(2, 3), MazeState(3, 1)]
    run.dataset[("policy", run._key(MazeState(1, 1)))] = {}  # already learned: after the new ones
    assert run._select(previous) == [MazeState(2, 3), MazeState(1, 1), MazeState(3, 1)]
    assert LearningRun(env, ScriptedBackend(), tmp_path / "b", LearnConfig(games=6, states=1, validation_games=0)
                       )._select(previous) == [MazeState(1, 1)]


@pytest.mark.parametrize("layout, rollouts, moves", [("umaze", 32, 12), ("double_t", 256, 60)])
def test_random_rollouts_improve_to_the_shortest_path_in_the_official_mazes(layout, rollouts, moves):
    # both mazes are trees: the move towards the goal shortens a random walk's time to it, so
    # enough random rollouts make the improved action the shortest-path move at (nearly) every
    # cell; 16 rollouts of <= 30 moves (the first maze runs' setting) got 6 of double-T's 25 wrong
    env = make_env(f"maze:{layout}")
    ev = RolloutEvaluator(env, policy_rollouts=0, random_rollouts=rollouts, max_moves=moves, cite=1)
    rng = random.Random(0)
    wrong = [s for s in env.start_states() if ev.evaluate(s, RandomPolicy(), rng).best != env.optimal_action(s)]
    assert len(wrong) <= len(env.start_states()) // 20


class _FallsBack:
    """A policy whose every move is a fallback (an untrained model's)."""

    def act(self, env, state, rng):
        from nlrl.gpi.policy import PolicyDecision

        return PolicyDecision(rng.choice(env.legal_actions(state)), source="fallback")


def test_policy_rollouts_count_only_the_policys_own_moves():
    from nlrl.gpi.policy import OptimalMazePolicy

    maze = make_env("maze:umaze")
    far = maze.reset(random.Random(0), (1, 2))  # right is the way; left leads to a detour
    ev = RolloutEvaluator(maze, policy_rollouts=3, random_rollouts=8, max_moves=12, cite=1)
    r = ev.evaluate(far, _FallsBack(), random.Random(0))
    assert all("policy" not in a.returns for a in r.actions)  # random walks, not the policy's
    assert ev.fallback_rollouts == 3 * len(r.actions)
    own = RolloutEvaluator(maze, policy_rollouts=1, random_rollouts=8, max_moves=12, cite=1)
    r = own.evaluate(far, OptimalMazePolicy(), random.Random(0))
    assert own.fallback_rollouts == 0 and r.best == "right"
    assert r.report("right").returns["policy"] == (maze.optimal_return(far),)
    # without random rollouts the fallen-back ones are all there is: kept
    alone = RolloutEvaluator(maze, policy_rollouts=2, random_rollouts=0, max_moves=12)
    assert all(len(a.returns["policy"]) == 2 for a in alone.evaluate(far, _FallsBack(), random.Random(0)).actions)


# ---- telling look-alike maze cells apart: hints, restated positions, epoch selection ------------------


def _selecting_fit(backend, scores):
    """Fit with scripted selection scores; returns the fit and the target loss seen at each epoch."""
    examples = [Example(f"Board {i}: " + '{"thought": "', json_target(thought=f"{i} wins", action=str(i)))
                for i in range(1, 5)]
    d = Distiller(backend, rank=4, lr=1e-2, epochs=len(scores), batch_size=4)
    seen, queue = [], list(scores)

    def select():
        assert not d.model.training  # scored as the policy plays: eval mode
        seen.append(d.loss(examples))
        return queue.pop(0)

    fit = d.fit(examples, select=select)
    return fit, seen, d.loss(examples)


def test_epoch_selection_keeps_the_best_scoring_epochs_weights(backend):
    fit, seen, final = _selecting_fit(backend, [0.25, 0.75, 0.5, 0.5])
    assert fit["epoch_scores"] == [0.25, 0.75, 0.5, 0.5] and fit["selected_epoch"] == 2
    assert final == pytest.approx(seen[1], abs=1e-5) and abs(final - seen[-1]) > 1e-4  # not the last epoch's


def test_epoch_selection_breaks_ties_by_the_lower_epoch_loss(backend):
    fit, seen, final = _selecting_fit(backend, [0.5, 0.5, 0.5])
    best = min(range(3), key=lambda i: (fit["epoch_loss"][i], i))
    assert fit["selected_epoch"] == best + 1 and final == pytest.approx(seen[best], abs=1e-5)
    plain = Distiller(backend, rank=4, epochs=1, batch_size=4).fit([Example("a", "b")])
    assert "selected_epoch" not in plain and "epoch_scores" not in plain


def test_maze_defaults_restate_the_position_and_hint_the_goal_tictactoe_unchanged(backend, tmp_path):
    maze, ttt = make_env("maze:umaze"), make_env("tictactoe")
    assert LearnConfig().resolved(maze) == {"hints": True, "restate": True, "select_epoch": True}
    assert LearnConfig().resolved(ttt) == {"hints": False, "restate": False, "select_epoch": False}
    assert LearnConfig(select_epoch=False).resolved(maze)["select_epoch"] is False
    with pytest.raises(ConfigError, match="hints"):
        LearnConfig(hints="yes")
    run = LearningRun(maze, backend, tmp_path / "m", LearnConfig(**{**SMALL, "max_tokens": 32}))
    result = run.run(iterations=1)
    rows = [json.loads(line) for line in (tmp_path / "m" / "dataset.jsonl").read_text().splitlines()]
    for r in (r for r in rows if r["kind"] == "policy"):
        row, col, _ = json.loads(r["key"])
        assert r["target"].startswith(f"row {row}, column {col}: ")
        assert f"You: row {row}, column {col}." in r["prompt"] and "The goal is " in r["prompt"]
    train = result["iterations"][1]["train"]
    assert len(train["epoch_scores"]) == SMALL["epochs"] and 1 <= train["selected_epoch"] <= SMALL["epochs"]
    assert all(0 <= s <= 1 for s in train["epoch_scores"])
    # a run directory saved before these settings existed (keys absent) resumes with the defaults
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    for key in ("hints", "restate", "select_epoch"):
        config.pop(key)
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    LearningRun(maze, backend, tmp_path / "m", LearnConfig(**{**SMALL, "max_tokens": 32}))._check_settings()
    with pytest.raises(ConfigError, match="restate"):
        LearningRun(maze, backend, tmp_path / "m", LearnConfig(**{**SMALL, "max_tokens": 32},
                                                                restate=False))._check_settings()
    t = LearningRun(ttt, backend, tmp_path / "t", LearnConfig(**SMALL))
    assert not any(t.options.values())
    assert t._policy(0).prompt(Board()) == LanguagePolicyPrompt(ttt)


def LanguagePolicyPrompt(env):  # noqa: N802  (the learn prompt as it was before hints existed)
    from nlrl.gpi.templates import load_prompts

    return load_prompts(env.name).render("learn_policy", state=env.describe(Board()), legal=env.legal_actions(Board()))


def test_decision_accuracy_counts_the_models_own_target_moves(tmp_path):
    from nlrl.backends.scripted import ScriptedBackend
    from nlrl.gpi.envs.maze import MazeState

    def answer(prompt, _i):  # "down" everywhere; an unparsable answer at (1, 1)
        return "lost" if "You: row 1, column 1." in prompt else 'row: down", "action": "down"}\n'

    env = make_env("maze:umaze")
    run = LearningRun(env, ScriptedBackend(answer), tmp_path, LearnConfig(games=6, validation_games=0))
    for cell, move in (((2, 1), "up"), ((2, 3), "down"), ((1, 1), "right"), ((1, 3), "down")):
        key = run._key(MazeState(*cell))
        run.dataset[("policy", key)] = {"key": key, "target": json_target(thought="x", action=move)}
        run.dataset[("value", key)] = {"key": key, "target": json_target(thought="x", final_evaluation="far")}
    assert run.decision_accuracy(1) == 0.5  # (2, 3) and (1, 3) right; (2, 1) wrong; (1, 1) a fallback
