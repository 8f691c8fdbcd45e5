"""The vendored benchmarks: how each one's rows become records, their names and aliases, and
the sets generated in code (:mod:`nlrl.bench.arith`, :mod:`nlrl.bench.minicode`)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Mapping

from .._exceptions import DatasetError, UnknownNameError
from .files import RowParser, parse_rows, resolve_data_dir
from .records import Dataset, Record


def _gsm8k(row: Mapping[str, Any], i: int) -> Record:
    answer = row["answer"]
    if "####" not in answer:
        raise ValueError("answer has no '#### <number>' line")
    ref = answer.rsplit("####", 1)[1].strip().replace(",", "")
    return Record(str(i), row["question"], ref, "math", "math", "gsm8k", i)


def _math500(row: Mapping[str, Any], i: int) -> Record:
    return Record(row["unique_id"], row["problem"], row["answer"], "math", "math", "math500", i,
                  metadata={"level": int(row["level"]), "subject": row["subject"]})


def _math(row: Mapping[str, Any], i: int) -> Record:
    from ..verifiers.math import last_boxed

    ref = last_boxed(row["solution"])
    if ref is None:
        raise ValueError("solution has no \\boxed{} answer")
    level = str(row["level"]).replace("Level", "").strip()
    return Record(str(row.get("idx", i)), row["problem"], ref, "math", "math", "math", i,
                  metadata={"level": int(level) if level.isdigit() else level, "type": row["type"]})


def _aime24(row: Mapping[str, Any], i: int) -> Record:
    return Record(str(i), row["problem"], str(row["answer"]), "math", "math", "aime24", i,
                  metadata={"source_id": row.get("id"), "url": row.get("url", "")})


def _humaneval(row: Mapping[str, Any], i: int) -> Record:
    ref = {"prompt": row["prompt"], "test": row["test"], "entry_point": row["entry_point"]}
    return Record(row["task_id"], row["prompt"], ref, "coding", "code", "humaneval", i)


def _mbpp(row: Mapping[str, Any], i: int) -> Record:
    tests = list(row["test_list"])
    if not tests:
        raise ValueError("test_list is empty")
    text = row.get("prompt") or row["text"]
    # One assert shows the function's name and signature, as the MBPP paper's prompt does.
    prompt = f"{text.strip()}\nYour code should pass this test:\n{tests[0]}"
    ref = {"test_list": tests, "test_imports": list(row.get("test_imports") or [])}
    return Record(str(row["task_id"]), prompt, ref, "coding", "code", "mbpp", i)


def _hotpotqa(row: Mapping[str, Any], i: int) -> Record:
    return Record(str(row.get("id", i)), row["question"], row["answer"], "commonsense", "qa", "hotpotqa", i,
                  metadata={"type": row.get("type", "")})


def _hotpotqa_distractor(row: Mapping[str, Any], i: int) -> Record:
    ctx = row["context"]
    paragraphs = [f"{title}: {''.join(sents).strip()}" for title, sents in zip(ctx["title"], ctx["sentences"])]
    prompt = "Context:\n" + "\n".join(paragraphs) + "\n\n" + row["question"]
    return Record(str(i), prompt, row["answer"], "commonsense", "qa", "hotpotqa-distractor", i,
                  metadata={"type": row["type"], "level": row["level"], "source_id": row["id"]})


def _commonsenseqa(row: Mapping[str, Any], i: int) -> Record:
    q = row["question"]
    choices = "\n".join(f"{c['label']}. {c['text']}" for c in q["choices"])
    # The choice texts let the checker accept "Final Answer: refrigerator" for "B".
    context = {"labels": [c["label"] for c in q["choices"]], "choices": [c["text"] for c in q["choices"]]}
    return Record(str(i), f"{q['stem'].strip()}\n{choices}", row["answerKey"], "commonsense", "choice",
                  "commonsenseqa", i, metadata={"concept": q.get("question_concept", ""), "source_id": row["id"]},
                  context=context)


def _strategyqa(name: str) -> RowParser:
    def parse(row: Mapping[str, Any], i: int) -> Record:
        ans = row["answer"]
        if not isinstance(ans, bool):
            raise ValueError(f"answer must be true or false, got {ans!r}")
        return Record(str(i), row["question"], "yes" if ans else "no", "commonsense", "yesno", name, i,
                      metadata={"source_id": row["qid"]})
    return parse


def _collie(row: Mapping[str, Any], i: int) -> Record:
    key = row["key"]
    source, _, constraint = key.partition("_")
    ref = {"constraint": row["constraint"], "targets": row["targets"]}
    return Record(str(i), row["prompt"], ref, "commonsense", "collie", "collie", i,
                  metadata={"type": constraint, "source": source, "source_id": f"{key}/{row['index']}"})


@dataclass(frozen=True)
class _Builtin:
    path: str
    parse: RowParser
    about: str


BUILTIN: dict[str, _Builtin] = {
    "gsm8k": _Builtin("gsm8k/test.jsonl", _gsm8k, "GSM8K test, first 1000 (math)"),
    "math500": _Builtin("math500/test.jsonl", _math500, "MATH-500 (math; level, subject)"),
    "math": _Builtin("math/test.jsonl", _math, "MATH test, 5000 (math; level, type)"),
    "aime24": _Builtin("aime24/test.jsonl", _aime24, "AIME 2024 I+II (math)"),
    "humaneval": _Builtin("humaneval/HumanEval.jsonl.gz", _humaneval, "HumanEval (code)"),
    "mbpp": _Builtin("mbpp/sanitized-mbpp.json", _mbpp, "MBPP sanitized (code)"),
    "hotpotqa": _Builtin("hotpotqa/hotpot_dev_v1_simplified.ReAct.json", _hotpotqa,
                         "HotpotQA dev questions, closed book (qa; type)"),
    "hotpotqa-distractor": _Builtin("hotpotqa/hotpot_dev_distractor_sample100.reflexion.jsonl",
                                    _hotpotqa_distractor, "HotpotQA dev distractor sample with context (qa; level, type)"),
    "commonsenseqa": _Builtin("commonsenseqa/dev_rand_split.jsonl", _commonsenseqa, "CommonsenseQA dev (choice)"),
    "strategyqa": _Builtin("strategyqa/dev.eladsegal.json", _strategyqa("strategyqa"), "StrategyQA dev (yes/no)"),
    "strategyqa-train": _Builtin("strategyqa/train.eladsegal.json", _strategyqa("strategyqa-train"),
                                 "StrategyQA train (yes/no)"),
    "collie": _Builtin("collie/collie_v1.converted.jsonl", _collie, "COLLIE v1 constrained generation (collie; type)"),
}
ALIASES: dict[str, str] = {
    "math-500": "math500", "aime": "aime24", "aime-2024": "aime24", "aime2024": "aime24",
    "human-eval": "humaneval", "csqa": "commonsenseqa", "commonsense-qa": "commonsenseqa",
    "hotpot": "hotpotqa", "gsm-8k": "gsm8k", "collie-v1": "collie",
    "arith-test": "arith", "minicode-test": "minicode",
}
#: Built-ins generated in code, not read from the data directory: ``<module>[-<split>]`` names
#: :mod:`nlrl.bench.arith` or :mod:`nlrl.bench.minicode`.
GENERATED: dict[str, tuple[str, str]] = {
    "arith": ("test", "graded arithmetic, test split: 6 levels x 100, generated (math; level)"),
    "arith-dev": ("dev", "graded arithmetic, dev split: 6 levels x 100, generated (math; level)"),
    "arith-train": ("train", "graded arithmetic, train split: 6 levels x 100, generated (math; level)"),
    "minicode": ("test", "graded coding (MBPP-shaped), test split: 6 levels x 100, generated (code; level)"),
    "minicode-dev": ("dev", "graded coding (MBPP-shaped), dev split: 6 levels x 100, generated (code; level)"),
    "minicode-train": ("train", "graded coding (MBPP-shaped), train split: 6 levels x 100, generated (code; level)"),
}


def dataset_names() -> list[str]:
    return sorted([*BUILTIN, *GENERATED])


def _squash(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name.lower())


def builtin_name(name: str) -> str | None:
    """The vendored benchmark ``name`` spells (an alias; case, spaces, ``-`` and ``_`` aside), or None."""
    key = ALIASES.get(name.lower(), name.lower())
    if key in BUILTIN or key in GENERATED:
        return key
    squashed = _squash(name)
    for known in [*BUILTIN, *GENERATED, *ALIASES]:
        if squashed and _squash(known) == squashed:
            return ALIASES.get(known, known)
    return None


def load_builtin(name: str, *, data_dir: str | os.PathLike[str] | None = None, strict: bool = False,
                 settings: Any = None) -> Dataset:
    """A vendored benchmark by name (see :data:`BUILTIN`)."""
    key = builtin_name(name)
    if key is None:
        raise UnknownNameError("dataset", name, dataset_names())
    if key in GENERATED:
        from importlib import import_module

        module = import_module(f".{key.split('-')[0]}", __package__)
        return module.generate(GENERATED[key][0], name=key)
    spec = BUILTIN[key]
    path = resolve_data_dir(data_dir, settings) / spec.path
    if not path.is_file():
        raise DatasetError(f"dataset file for {key!r} not found (data directory: {path.parents[1]})", path=str(path))
    return parse_rows(key, path, spec.parse, strict)
