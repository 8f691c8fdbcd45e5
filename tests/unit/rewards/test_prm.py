"""Trained PRMs: each family's tiny random checkpoint scored by nlrl equals the model card's own
recipe computed here with transformers directly; aggregation by hand; batching changes nothing."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from nlrl import ConfigError, VerifierError  # noqa: E402
from nlrl.rewards import ProcessReward, get_reward  # noqa: E402
from nlrl.rewards.prm import (FAMILIES, HFProcessReward, aggregate_steps, detect_family,  # noqa: E402
                              split_solution)

from helpers.prm_models import build  # noqa: E402

Q = "What is 2 + 2?"
STEPS = ["Step 1: 2 + 2 = 4.", "Step 2: so the answer is 4.", "The answer is \\boxed{4}."]


@pytest.fixture(scope="module", params=["qwen-prm", "math-shepherd", "rlhflow", "outcome"])
def family_dir(request, tmp_path_factory):
    return request.param, build(request.param, tmp_path_factory.mktemp(request.param))


def card_recipe(family: str, path, question: str, steps: list[str]) -> list[float]:
    """Each model card's documented usage, written out independently of nlrl."""
    tok = transformers.AutoTokenizer.from_pretrained(path)
    if family == "qwen-prm":
        model = transformers.AutoModelForTokenClassification.from_pretrained(path).eval()
        messages = [{"role": "system", "content": "Please reason step by step, and put your final answer within \\boxed{}."},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"}]
        ids = tok.encode(tok.apply_chat_template(messages, tokenize=False), return_tensors="pt")
        with torch.no_grad():
            logits = model(input_ids=ids)[0]
        probs = logits.softmax(-1)[0, :, 1]
        return probs[ids[0] == tok.convert_tokens_to_ids("<extra_0>")].tolist()
    if family == "math-shepherd":
        model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
        good_bad = tok.encode("+ -", add_special_tokens=False)
        tag = tok.encode("ки")[-1]
        ids = tok.encode(f"{question} " + "\n".join(f"{s} ки" for s in steps), return_tensors="pt")
        with torch.no_grad():
            logits = model(ids).logits[:, :, good_bad]
        return logits.softmax(-1)[0, :, 0][ids[0] == tag].tolist()
    if family == "rlhflow":  # search-and-learn's reading: logits[-3] of the chat ending "+<|eot_id|>"
        model = transformers.AutoModelForCausalLM.from_pretrained(path).eval()
        good_bad = tok.encode("+ -", add_special_tokens=False)
        conv, out = [], []
        for k, step in enumerate(steps):
            conv += [{"role": "user", "content": f"{question} {step}" if k == 0 else step},
                     {"role": "assistant", "content": "+"}]
            ids = tok.encode(tok.apply_chat_template(conv, tokenize=False), add_special_tokens=False,
                             return_tensors="pt")
            with torch.no_grad():
                out.append(model(ids).logits[0, -3, good_bad].softmax(-1)[0].item())
        return out
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path).eval()
    out = []
    for k in range(1, len(steps) + 1):
        conv = [{"role": "user", "content": question}, {"role": "assistant", "content": "\n\n".join(steps[:k])}]
        ids = tok.encode(tok.apply_chat_template(conv, tokenize=False), add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            out.append(torch.sigmoid(model(input_ids=ids).logits[0, 0]).item())
    return out


def test_each_family_scores_steps_as_its_model_card_reads_them(family_dir):
    family, path = family_dir
    prm = HFProcessReward(str(path), device="cpu", dtype="float32")
    assert prm.family.name == family  # detected from the checkpoint's architecture and template
    assert isinstance(prm, ProcessReward) and prm.name == f"prm:{family}"
    got = prm.score_steps(Q, STEPS)
    want = card_recipe(family, path, Q, STEPS)
    assert got == pytest.approx(want, abs=1e-5)
    assert len(set(round(x, 6) for x in got)) > 1  # not a constant: positions really differ


def test_batched_scoring_equals_one_at_a_time(family_dir):
    _, path = family_dir
    prm = HFProcessReward(str(path), device="cpu", dtype="float32", batch_size=4)
    sols = [STEPS[:1], STEPS, ["2 + 2 = 5.", "So 5."], STEPS[:2]]
    batched = prm.score_batch(Q, sols)
    assert [len(b) for b in batched] == [1, 3, 2, 2]
    for sol, b in zip(sols, batched):
        assert b == pytest.approx(prm.score_steps(Q, sol), abs=1e-5)


def test_a_whole_output_is_its_steps_aggregated(family_dir):
    _, path = family_dir
    for how in ("last", "min", "prod", "mean"):
        prm = get_reward(f"prm:{path}", aggregation=how, device="cpu", dtype="float32")
        steps = prm.score_steps(Q, STEPS)
        assert prm.score(Q, "\n\n".join(STEPS)) == pytest.approx(aggregate_steps(steps, how))


def test_aggregation_arithmetic_by_hand():
    s = [0.9, 0.5, 0.8]
    assert aggregate_steps(s, "last") == 0.8
    assert aggregate_steps(s, "min") == 0.5
    assert aggregate_steps(s, "prod") == pytest.approx(0.36)
    assert aggregate_steps(s, "mean") == pytest.approx(2.2 / 3)
    with pytest.raises(ConfigError, match="last, min, prod, mean"):
        aggregate_steps(s, "max")
    with pytest.raises(VerifierError):
        aggregate_steps([], "min")


def test_steps_are_paragraphs_else_lines():
    assert split_solution("a\nb\n\nc\n") == ["a\nb", "c"]
    assert split_solution("a\n b \n\n") == ["a", "b"]
    assert split_solution("  ") == []


def test_family_detection_and_bad_specs(tmp_path):
    assert detect_family("Qwen2ForProcessRewardModel", True) is FAMILIES["qwen-prm"]
    assert detect_family("LlamaForSequenceClassification", True) is FAMILIES["outcome"]
    assert detect_family("MistralForCausalLM", False) is FAMILIES["math-shepherd"]
    assert detect_family("LlamaForCausalLM", True) is FAMILIES["rlhflow"]
    with pytest.raises(ConfigError, match="family"):
        detect_family("BertModel", False)
    with pytest.raises(ConfigError, match="needs a checkpoint or a server"):
        get_reward("prm")
    with pytest.raises(ConfigError, match="aggregation"):
        get_reward("prm:/x", aggregation="max")
    with pytest.raises(Exception, match="cannot load PRM"):
        get_reward(f"prm:{tmp_path / 'missing'}")
