"""The learned verifier: AUC, training from a benchmark run, the .npz file, the model check, use in
best-of-N. The model is the scripted backend: sample i of a question is right when i is even, and
a wrong sample says "hmm", a token the scripted model gives a low log-probability."""

import hashlib
import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from nlrl import ConfigError, ScriptedBackend  # noqa: E402
from nlrl.bench import BenchRunner, from_dicts  # noqa: E402
from nlrl.cli import main  # noqa: E402
from nlrl.rewards import REWARDS, get_reward, parse_spec  # noqa: E402
from nlrl.rewards.learned import (  # noqa: E402
    CHEAP,
    FeatureSpec,
    LearnedReward,
    LearnedVerifier,
    SampleView,
    featurize,
    fit,
    roc_auc,
    samples_from_runs,
    train,
)
from nlrl.strategies import Budget, get_strategy  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402

QUESTIONS = [(f"What is {a} + {b}?", a + b) for a, b in [(2, 2), (3, 5), (10, 7), (6, 6), (9, 1), (4, 8)]]


def sample_text(prompt, i):
    q = prompt.rsplit("Question:", 1)[1]
    ans = next(a for text, a in QUESTIONS if text in q)
    if i % 2 == 0:
        return f" Adding gives {ans}.\nFinal Answer: {ans}\n"
    return f" hmm hmm maybe {ans + 1 + i}.\nFinal Answer: {ans + 1 + i}\n"


def logprob(token):
    return -4.0 if "hmm" in token else -0.1


def embedding(text):
    """A deterministic 8-d vector of a text (what a model's embedding is, for the tests)."""
    h = hashlib.sha256(text.encode()).digest()
    return [b / 255.0 for b in h[:7]] + [1.0 if "hmm" in text else 0.0]


def backend(**kw):
    return ScriptedBackend(sample_text, logprob=logprob, **kw)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real benchmark run (best-of-4 with the log-prob reward) over the scripted model."""
    out = tmp_path_factory.mktemp("run")
    ds = from_dicts([{"question": q, "answer": str(a)} for q, a in QUESTIONS], name="add-train")
    BenchRunner(backend(), strategy="best-of-n", n=4, temperature=0.7, seed=0, reward="logprob",
                max_tokens=32, progress=False, plots=False).run(ds, out)
    return out


def test_roc_auc_matches_definition():
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == 1.0
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5], [1, 0, 1]) == 0.5
    assert roc_auc([0.3, 0.4], [1, 1]) is None
    # ties count half: pos {0.5, 0.7}, neg {0.5, 0.1} -> pairs 0.5/1 + 1 + 1 + 1 over 4
    assert roc_auc([0.5, 0.7, 0.5, 0.1], [1, 1, 0, 0]) == pytest.approx(3.5 / 4)
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=200).round(1), rng.integers(0, 2, 200)
    from sklearn.metrics import roc_auc_score

    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s))


def test_samples_from_runs_grades_every_sample_with_its_logprob_statistics(run_dir):
    data = samples_from_runs([run_dir])
    assert len(data) == len(QUESTIONS) * 4
    assert [s.correct for s in data[:4]] == [True, False, True, False]
    right, wrong = data[0].view, data[1].view
    assert right.mean_logprob == pytest.approx(-0.1) and wrong.min_logprob == pytest.approx(-4.0)
    assert right.agreement == 0.5 and wrong.agreement == 0.25  # two right, two different wrong answers


def test_train_separates_right_from_wrong_and_round_trips(run_dir, tmp_path):
    v = train([run_dir], backend())  # the scripted model cannot embed: cheap features only
    assert v.spec.embedding_dim == 0 and v.spec.cheap == CHEAP
    assert v.meta["samples"] == 24 and v.meta["positives"] == 12 and v.meta["questions"] == 6
    path = v.save(tmp_path / "reward.npz")
    w = LearnedVerifier.load(path)
    data = samples_from_runs([run_dir])
    X = featurize(v.spec, [s.view for s in data])
    np.testing.assert_allclose(w.predict(X), v.predict(X))
    assert w.spec == v.spec and w.model == {"model": "scripted"}
    assert roc_auc(w.predict(X), [s.correct for s in data]) == 1.0


def test_train_with_embeddings_records_the_probe(run_dir, tmp_path):
    v = train([run_dir], backend(embedding=embedding), embed=True, C=1.0)
    assert v.spec.embedding_dim == 8 and len(v.model["probe"]) == 8
    path = v.save(tmp_path / "r.npz")
    reward = LearnedReward(path, backend=backend(embedding=embedding))
    assert reward.verifier.spec.size == len(CHEAP) + 8


def test_train_keeps_the_feature_set_that_cross_validates_better(run_dir):
    v = train([run_dir], backend(embedding=embedding))
    sel = v.meta["selection"]
    assert set(sel) == {"cheap_cv_auc", "embedding_cv_auc", "kept"}
    best = max(sel["cheap_cv_auc"], sel["embedding_cv_auc"])
    assert v.meta["cv_auc"] == best
    assert (v.spec.embedding_dim == 8) == (sel["kept"] == "embeddings + cheap")


def test_mismatched_model_is_refused(run_dir, tmp_path):
    path = train([run_dir], backend()).save(tmp_path / "r.npz")
    with pytest.raises(ConfigError, match="trained with model 'scripted'"):
        LearnedReward(path, backend=ScriptedBackend(["x"], model_name="other-model"))
    epath = train([run_dir], backend(embedding=embedding), embed=True, C=1.0).save(tmp_path / "e.npz")
    other = backend(embedding=lambda t: embedding(t + "!"))  # same name, different model weights
    with pytest.raises(ConfigError, match="embeds differently"):
        LearnedReward(epath, backend=other)
    with pytest.raises(ConfigError, match="cannot embed"):
        LearnedReward(epath, backend=backend())


def test_bad_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        get_reward("learned:" + str(tmp_path / "none.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not a learned verifier"):
        LearnedVerifier.load(tmp_path / "junk.npz")
    with pytest.raises(ConfigError, match="nothing after the colon"):
        get_reward("learned:")
    with pytest.raises(ConfigError, match="both kinds"):
        fit(np.zeros((3, 1)), [1, 1, 1], FeatureSpec(("agreement",)), {"model": "m"})


def test_learned_reward_picks_the_right_sample_in_best_of_n(run_dir, tmp_path):
    path = train([run_dir], backend()).save(tmp_path / "r.npz")
    spec = f"learned:{path}"
    assert parse_spec(spec) == ("learned", str(path))
    b = backend()
    task = Task.build("What is 3 + 5?", domain="math")
    # sample 1 (wrong, "hmm") would win a plain vote against nothing; the verifier must prefer 0 or 2
    for name in ("best-of-n", "weighted-best-of-n"):
        res = get_strategy(name, reward=spec)(task, b, budget=Budget(n=4, temperature=0.7, seed=0, max_tokens=32))
        assert res.answer == "8", name
        assert 0.0 <= res.score <= 1.0


def test_beam_scores_steps_with_the_learned_reward(run_dir, tmp_path):
    path = train([run_dir], backend()).save(tmp_path / "r.npz")
    task = Task.build("What is 3 + 5?", domain="math")
    res = get_strategy("beam", reward=f"learned:{path}", expansions=2)(
        task, backend(), budget=Budget(n=2, temperature=0.7, seed=0, max_tokens=32))
    # mechanics only: every kept path is scored by the learned reward, a probability
    kept = [k for e in res.trace if e.kind == "beam" for k in e.data["kept"]]
    assert kept and all(0.0 < k["score"] < 1.0 for k in kept)


def test_features_need_logprobs_when_the_spec_reads_them():
    from nlrl import VerifierError
    from nlrl.rewards.learned import cheap_features

    with pytest.raises(VerifierError, match="log-probabilities"):
        cheap_features(FeatureSpec(), SampleView("q", "t", "1", 3, None, None, 1.0))
    assert cheap_features(FeatureSpec(("agreement", "has_answer")), SampleView("q", "t", None, 3, None, None, 0.0)) == [0.0, 0.0]


def test_cli_train_reward(run_dir, tmp_path, capsys):
    script = tmp_path / "script.json"
    script.write_text(json.dumps(["unused"]))
    out = tmp_path / "cli.npz"
    try:
        main(["train-reward", str(run_dir), "--out", str(out), "--backend", "scripted", "--model", str(script),
              "--no-logprobs"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["samples"] == 24 and info["embedding_dim"] == 0
    assert LearnedVerifier.load(out).spec.cheap == tuple(c for c in CHEAP if "logprob" not in c)


def test_cli_train_reward_rejects_a_non_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train-reward", str(tmp_path), "--out", str(tmp_path / "x.npz")])
    assert exc.value.code == 1
    assert "not a benchmark run directory" in capsys.readouterr().err
