"""The learned verifier on the real embedded model: a real benchmark run on arith train
questions, trained on the model's own embeddings, then used to pick among real samples."""

import pytest

pytest.importorskip("sklearn")

from nlrl import ConfigError, ScriptedBackend  # noqa: E402
from nlrl.bench import BenchRunner  # noqa: E402
from nlrl.bench.arith import level_records  # noqa: E402
from nlrl.bench.datasets import Dataset  # noqa: E402
from nlrl.rewards.learned import LearnedReward, LearnedVerifier, train  # noqa: E402
from nlrl.strategies import Budget, get_strategy  # noqa: E402
from nlrl.tasks.task import Task  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(900)  # about 20 s on an idle machine; minutes on a shared one
def test_train_reward_on_embeddings_and_pick_with_it(embedded, tmp_path):
    # levels 1-2: the model is right about two times in three, so both labels occur
    records = level_records("train", 1, 2) + level_records("train", 2, 2)
    BenchRunner(embedded, strategy="best-of-n", n=4, temperature=0.7, seed=0, reward="logprob", max_tokens=32,
                progress=False, plots=False).run(Dataset("arith-train", records), tmp_path / "run")
    verifier = train([tmp_path / "run"], embedded, embed=True, C=0.1)
    assert verifier.spec.embedding_dim == len(embedded.embed(["x"])[0]) > 100
    assert verifier.meta["samples"] == 16
    path = verifier.save(tmp_path / "reward.npz")
    assert LearnedVerifier.load(path).model["model"] == embedded.model_name

    task = Task.build(level_records("dev", 1, 1)[0].prompt, domain="math")
    res = get_strategy("best-of-n", reward=f"learned:{path}")(
        task, embedded, budget=Budget(n=3, temperature=0.7, seed=1, max_tokens=32))
    assert 0.0 <= res.score <= 1.0 and res.extra["scored"] == 3
    with pytest.raises(ConfigError, match="cannot embed"):
        LearnedReward(path, backend=ScriptedBackend(["x"]))
