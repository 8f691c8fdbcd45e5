import json
import warnings

import pytest

from nlrl import ConfigError, DatasetError, UnknownNameError
from nlrl.bench import Dataset, Record, dataset_names, from_dicts, from_file, load_dataset, resolve_data_dir
from nlrl.bench.datasets import vendored_data_dir

SIZES = {
    "gsm8k": 1000, "math500": 500, "math": 5000, "aime24": 30, "humaneval": 164, "mbpp": 427,
    "hotpotqa": 7405, "hotpotqa-distractor": 100, "commonsenseqa": 1221, "strategyqa": 229,
    "strategyqa-train": 2061, "collie": 2080,
    "arith": 600, "arith-dev": 600, "arith-train": 600,
    "minicode": 600, "minicode-dev": 600, "minicode-train": 600,
}
CHECKERS = {
    "gsm8k": "math", "math500": "math", "math": "math", "aime24": "math", "humaneval": "code", "mbpp": "code",
    "hotpotqa": "qa", "hotpotqa-distractor": "qa", "commonsenseqa": "choice", "strategyqa": "yesno",
    "strategyqa-train": "yesno", "collie": "collie",
    "arith": "math", "arith-dev": "math", "arith-train": "math",
    "minicode": "code", "minicode-dev": "code", "minicode-train": "code",
}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_every_vendored_benchmark_loads_whole(name):
    ds = load_dataset(name)
    assert len(ds) == SIZES[name] and not ds.skipped
    assert {r.checker for r in ds} == {CHECKERS[name]}
    assert len({r.id for r in ds}) == len(ds)
    assert [r.index for r in ds] == list(range(len(ds)))
    assert all(r.prompt.strip() and r.dataset == name for r in ds)


def test_ids_follow_the_grade_convention():
    """``nlrl grade --dataset`` ids: MATH-500 unique_id, HumanEval/MBPP task_id, else the row number."""
    from nlrl.bench.datasets import BUILTIN, read_rows

    own = {"math500": "unique_id", "humaneval": "task_id", "mbpp": "task_id"}
    for name in ("gsm8k", "math500", "aime24", "humaneval", "mbpp", "commonsenseqa", "strategyqa", "collie",
                 "hotpotqa-distractor"):
        rows = [row for _, row in read_rows(vendored_data_dir() / BUILTIN[name].path)]
        expected = [str(row[own[name]]) for row in rows] if name in own else [str(i) for i in range(len(rows))]
        assert [r.id for r in load_dataset(name)] == expected, name


def test_names_and_aliases():
    assert set(dataset_names()) == set(SIZES)
    assert load_dataset("MATH-500").name == "math500" and load_dataset("aime").name == "aime24"
    from nlrl.bench.datasets import builtin_name

    # case, spaces, "-" and "_" aside (the spellings `nlrl grade --dataset` has always taken)
    assert [builtin_name(n) for n in ("hotpotqa_distractor", "Math 500", "StrategyQA_train", "human_eval",
                                      "imagenet", "", "mine.jsonl")] == [
        "hotpotqa-distractor", "math500", "strategyqa-train", "humaneval", None, None, None]


def test_gsm8k_reference_is_the_final_number():
    ds = load_dataset("gsm8k")
    assert ds[0].reference == "18" and ds[0].domain == "math" and ds[0].id == "0"
    assert all("####" not in r.reference and "," not in r.reference for r in ds)


def test_math_metadata_and_boxed_reference():
    m5 = load_dataset("math500")[0]
    assert m5.id == "test/precalculus/807.json" and dict(m5.metadata) == {"level": 2, "subject": "Precalculus"}
    assert m5.reference == "\\left( 3, \\frac{\\pi}{2} \\right)"
    m = load_dataset("math")
    assert m[0].reference == "2" and dict(m[0].metadata) == {"level": 3, "type": "Algebra"}
    assert m[2].reference == "\\dfrac{9}{7}"
    assert {r.metadata["level"] for r in m} == {1, 2, 3, 4, 5}


def test_choice_prompt_shows_stem_and_lettered_choices():
    r = load_dataset("commonsenseqa")[0]
    assert r.prompt.splitlines() == [
        "A revolving door is convenient for two direction travel, but it also serves as a security measure at a what?",
        "A. bank", "B. library", "C. department store", "D. mall", "E. new york"]
    assert r.reference == "A" and r.id == "0" and r.metadata["source_id"] == "1afa02df02c908a558b4036e80242fac"
    assert r.context["labels"] == ["A", "B", "C", "D", "E"] and r.context["choices"][1] == "library"


def test_code_prompts_and_references():
    he = load_dataset("humaneval")[0]
    assert he.prompt.startswith("from typing import List") and "def has_close_elements" in he.prompt
    assert he.reference["entry_point"] == "has_close_elements" and "def check(candidate)" in he.reference["test"]
    assert he.domain == "coding"
    mb = load_dataset("mbpp")[0]
    assert mb.prompt == ("Write a function to find the shared elements from the given two lists.\n"
                         "Your code should pass this test:\n"
                         "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))")
    assert len(mb.reference["test_list"]) == 3 and mb.id == "2"


def test_qa_yesno_and_collie():
    hd = load_dataset("hotpotqa-distractor")[0]
    assert hd.prompt.startswith("Context:\n") and hd.prompt.endswith("What does their new acronym stand for?")
    assert hd.metadata["level"] == "hard" and hd.metadata["type"] == "bridge"
    sq = load_dataset("strategyqa")
    assert {r.reference for r in sq} == {"yes", "no"}
    c = load_dataset("collie")[0]
    assert c.id == "0" and c.metadata["type"] == "c14" and c.metadata["source_id"] == "wiki_c14/0"
    assert c.reference["constraint"]["__class__"] == "All"


def test_select_limit_then_shard():
    ds = load_dataset("aime24")
    assert [r.index for r in ds.select(limit=10, shard=(1, 3))] == [1, 4, 7]
    shards = [ds.select(limit=10, shard=(i, 3)) for i in range(3)]
    assert sorted(r.index for s in shards for r in s) == list(range(10))
    with pytest.raises(ConfigError):
        ds.select(shard=(3, 3))


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("NLRL_DATA_DIR", raising=False)
    assert resolve_data_dir() == vendored_data_dir()
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(
        json.dumps({"question": "What is 1 + 1?", "answer": "1 + 1 = 2\n#### 2"}) + "\n")
    assert len(load_dataset("gsm8k", data_dir=tmp_path)) == 1
    monkeypatch.setenv("NLRL_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path and len(load_dataset("gsm8k")) == 1
    with pytest.raises(DatasetError, match="aime24"):
        load_dataset("aime24")  # not in that directory
    with pytest.raises(DatasetError, match="does not exist"):
        resolve_data_dir(tmp_path / "nope")


def test_malformed_lines_are_skipped_with_file_and_line_or_fatal_when_strict(tmp_path, caplog):
    d = tmp_path / "gsm8k"
    d.mkdir()
    good = json.dumps({"question": "What is 1 + 1?", "answer": "#### 2"})
    (d / "test.jsonl").write_text("\n".join([
        good, "{not json", json.dumps({"question": "no answer"}),
        json.dumps({"question": "q", "answer": "no hashes"}), "[1, 2]", good.replace("1 + 1", "2 + 2")]) + "\n")
    ds = load_dataset("gsm8k", data_dir=tmp_path)
    assert [r.id for r in ds] == ["0", "5"]
    where = [(s.line, s.reason) for s in ds.skipped]
    assert [w[0] for w in where] == [2, 3, 4, 5]
    assert "not valid JSON" in where[0][1] and "missing field 'answer'" in where[1][1]
    assert str(ds.skipped[0]).startswith(f"{d / 'test.jsonl'}:2: ")
    assert "test.jsonl:2" in caplog.text
    with pytest.raises(DatasetError, match=r"test\.jsonl:2: not valid JSON"):
        load_dataset("gsm8k", data_dir=tmp_path, strict=True)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as e:
        load_dataset("gsm9k")
    assert "gsm8k" in str(e.value) and "commonsenseqa" in str(e.value)
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset("missing.jsonl")


def test_local_files_with_field_mapping(tmp_path):
    p = tmp_path / "mine.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in [
        {"qid": "a", "q": {"text": "What is 6 * 7?"}, "gold": "42", "lvl": 2},
        {"qid": "b", "q": {"text": "Is the sky green?"}, "gold": False},
    ]) + "\n")
    ds = from_file(p, fields={"id": "qid", "prompt": "q.text", "reference": "gold"}, metadata=["lvl"])
    assert [r.id for r in ds] == ["a", "b"] and ds.name == "mine"
    assert ds[0].checker == "math" and ds[0].domain == "math" and ds[0].metadata["lvl"] == 2
    assert ds[1].checker == "yesno" and ds[1].domain == "commonsense"
    js = tmp_path / "rows.json"
    js.write_text(json.dumps({"data": [{"problem": "Compute $1+2$.", "answer": "3", "level": 1}]}))
    r = load_dataset(js)[0]
    assert (r.prompt, r.reference, r.checker, r.id, r.metadata["level"]) == ("Compute $1+2$.", "3", "math", "0", 1)
    csvp = tmp_path / "rows.csv"
    csvp.write_text("question,answer\nWhich city is the capital of France?,Paris\n,broken\n")
    ds = load_dataset(csvp, checker="qa")
    assert ds[0].checker == "qa" and ds[0].reference == "Paris"
    assert ds.skipped[0].line == 3  # an empty prompt, on CSV line 3
    with pytest.raises(ConfigError, match="unknown field mapping"):
        from_file(p, fields={"question": "q"})


def test_in_memory_rows_in_the_original_shape():
    ds = from_dicts([
        {"question": "What is 2 + 2?", "answer": "4"},
        {"problem": "Simplify $\\frac{2}{4}$.", "answer": "\\frac{1}{2}"},
        {"question": "Write a function add(a, b) that returns a + b.",
         "test_cases": [{"input": [1, 3], "expected": 4}]},
        {"question": "Which river flows through Paris?", "answer": "the Seine"},
        {"question": "Janet has 3 apples and buys 2 more. How many?", "answer": "She has 3 + 2 = 5.\n#### 5"},
    ])
    assert [r.checker for r in ds] == ["math", "math", "code", "qa", "math"]
    assert ds[2].domain == "coding" and ds[2].reference == {"test_cases": [{"input": [1, 3], "expected": 4}]}
    assert ds[4].reference == "5"
    assert [r.id for r in ds] == ["0", "1", "2", "3", "4"]
    with pytest.raises(DatasetError, match="<custom>:1: no reference field"):
        from_dicts([{"question": "no answer here"}], strict=True)
    with pytest.raises(DatasetError, match="duplicate record id"):
        from_dicts([{"id": 1, "question": "a?", "answer": "1"}, {"id": 1, "question": "b?", "answer": "2"}])


def test_huggingface_dataset_object():
    hf = pytest.importorskip("datasets")
    local = hf.Dataset.from_list([
        {"question": "What is 3 + 4?", "answer": "7", "id": "x1"},
        {"question": "Is water wet?", "answer": "yes", "id": "x2"},
    ])
    ds = load_dataset(local)
    assert [(r.id, r.checker) for r in ds] == [("x1", "math"), ("x2", "yesno")]
    csqa_like = hf.Dataset.from_list([{"id": "c", "question": {"stem": "Pick one?"}, "answerKey": "B"}])
    ds = load_dataset(csqa_like, fields={"prompt": "question.stem", "reference": "answerKey"}, checker="choice")
    assert ds[0].prompt == "Pick one?" and ds[0].reference == "B"


def test_duck_typed_dataset_object():
    class Rows:  # anything that iterates over row dicts and names its columns
        column_names = ["question", "answer"]

        def __iter__(self):
            return iter([{"question": "What is 5 - 2?", "answer": "3"}])

    ds = load_dataset(Rows())
    assert isinstance(ds, Dataset) and ds[0].reference == "3"


def test_record_validation():
    with pytest.raises(ConfigError, match="checker"):
        Record("1", "q?", "a", "math", "nope")
    with pytest.raises(ConfigError, match="empty prompt"):
        Record("1", "  ", "a", "math", "math")
    r = Record("1", "q?", "a", "math", "math", metadata={"level": 1})
    with pytest.raises(TypeError):
        r.metadata["level"] = 2  # frozen
    assert r.digest() == Record("1", "q?", "a", "math", "math").digest()
    assert r.digest() != Record("1", "q?", "b", "math", "math").digest()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert r.to_dict()["metadata"] == {"level": 1}


# ---- stdin/stdout problems: LiveCodeBench's and APPS's own row layouts ------------------------

LAYOUTS = __import__("pathlib").Path(__file__).parent / "data"


def _lcb_rows():
    """Two LiveCodeBench rows: AtCoder stdin (private tests compressed as LiveCodeBench ships
    them) and LeetCode functional."""
    return [json.loads(x) for x in (LAYOUTS / "livecodebench_layout.jsonl").read_text().splitlines()]


def _apps_rows():
    """Two APPS rows: stdin and call-based (fn_name)."""
    return [json.loads(x) for x in (LAYOUTS / "apps_layout.jsonl").read_text().splitlines()]


def test_livecodebench_layout_becomes_stdio_records(tmp_path):
    path = tmp_path / "lcb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _lcb_rows()) + "\n")
    ds = load_dataset(path)
    assert [r.id for r in ds] == ["abc001_a", "3000"] and not ds.skipped
    stdin, functional = ds
    assert stdin.checker == "stdio" and stdin.domain == "coding"
    assert stdin.reference == {"tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "7 8\n", "output": "15\n"}]}
    assert "standard input" in stdin.prompt and stdin.prompt.startswith("Print the sum")
    assert stdin.metadata["platform"] == "atcoder" and stdin.metadata["layout"] == "livecodebench"
    assert functional.reference == {"tests": [{"input": [[1, 2], 3], "output": [4, 5]}, {"input": [[], 1], "output": []}],
                                    "fn_name": "shift"}
    assert "class Solution:" in functional.prompt and "`shift`" in functional.prompt


def test_apps_layout_becomes_stdio_records(tmp_path):
    path = tmp_path / "apps.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _apps_rows()) + "\n")
    ds = load_dataset(path)
    assert [r.id for r in ds] == ["4001", "4002"] and {r.checker for r in ds} == {"stdio"}
    assert ds[0].reference == {"tests": [{"input": "3\n", "output": "9\n"}, {"input": "5\n", "output": "25\n"}]}
    assert ds[1].reference["fn_name"] == "bigger" and ds[1].reference["tests"][0] == {"input": [1, 2], "output": [2]}
    assert ds[0].metadata["difficulty"] == "introductory" and ds[0].metadata["layout"] == "apps"


def test_stdio_rows_that_are_malformed_are_skipped_or_fatal(tmp_path):
    rows = _apps_rows()
    rows[0]["input_output"] = json.dumps({"inputs": ["1"], "outputs": []})
    rows.append({"question_content": "x", "public_test_cases": "not json", "question_id": "q"})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ds = load_dataset(path)
    assert [r.id for r in ds] == ["4002"] and len(ds.skipped) == 2
    assert "different numbers of inputs and outputs" in ds.skipped[0].reason
    with pytest.raises(DatasetError, match="bad.jsonl:1"):
        load_dataset(path, strict=True)


def test_generic_file_with_input_output_tests_and_checker_stdio(tmp_path):
    path = tmp_path / "p.jsonl"
    row = {"id": "p1", "prompt": "Echo.", "tests": [{"input": "hi\n", "output": "hi\n"}], "float_tol": 1e-6}
    path.write_text(json.dumps(row) + "\n")
    ds = load_dataset(path, checker="stdio")
    assert ds[0].checker == "stdio" and ds[0].reference == {"test_cases": row["tests"], "float_tol": 1e-6}
    assert load_dataset(path)[0].checker == "stdio"  # inferred: tests with "output"
