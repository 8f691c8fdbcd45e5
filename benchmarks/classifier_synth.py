"""Generate the classifier's synthetic training prompts: the same kinds of content in layouts that
the benchmark sets tie to another domain.

    python benchmarks/classifier_synth.py      # writes benchmarks/classifier_data/synthetic_train.jsonl

Every prompt is built here from templates and word lists written for this file (December 2026), with
a seeded ``random.Random``: nothing is read from a benchmark or from the foreign-style evaluation
set, so a leave-one-dataset-out fold that trains on these never sees the left-out dataset's items
or anything derived from them. The kinds, each a training "dataset" that is in every fold and never
evaluated:

- ``synth_latex_math``: competition-style problems in LaTeX (``$...$``, ``\\frac``, ``\\[...\\]``,
  ``align*``, matrices, a few Asymptote figures) and their plain-text neighbours ("Find", "Compute",
  "Evaluate", "Simplify"). Without them, braces and backslashes read as code.
- ``synth_word_math``: narrative word problems with names, everyday things and numbers written in
  figures or words, as plain questions, as "Calculate ..." and as multiple choice.
- ``synth_code_math``: programming tasks whose content is arithmetic (digits, primes, averages,
  sequences), as a signature with a docstring and doctests, as "Write a function ...", as a bare
  request and as a how-to question: numbers in a program's description do not make it math.
- ``synth_code_systems``: everyday programming requests (files, strings, dates, HTTP, processes),
  short and long, and as one-line docstrings.
- ``synth_trivia_numbers``: trivia and science questions that carry figures (counts, years,
  measurements) but ask for a fact, not a computation; some as multiple choice.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # classifier.py beside this file
from classifier import multiple_choice  # noqa: E402

OUT = Path(__file__).resolve().parent / "classifier_data" / "synthetic_train.jsonl"
SEED = 2026

NAMES = ["Maya", "Omar", "Lena", "Tariq", "Priya", "Jonas", "Chloe", "Mateo", "Aiko", "Kwame", "Sofia",
         "Dmitri", "Nadia", "Ethan", "Grace", "Ravi", "Ines", "Hugo", "Zara", "Felix", "Amara", "Leo",
         "Yusuf", "Hana", "Marco", "Elif", "Noah", "Ruth", "Sam", "Keiko"]
WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
         10: "ten", 11: "eleven", 12: "twelve", 15: "fifteen", 20: "twenty", 30: "thirty", 40: "forty",
         50: "fifty", 100: "a hundred"}


def num(r: random.Random, n: int) -> str:
    """A number in figures, or in words a third of the time when it has a common word."""
    return WORDS[n] if n in WORDS and r.random() < 0.35 else str(n)


def mc(r: random.Random, stem: str, answer: str, wrong: list[str]) -> str:
    opts = wrong[:3 + r.randrange(2)]
    opts.insert(r.randrange(len(opts) + 1), answer)
    # classifier.py's layouts 0, 1, 2 and 4 (its 'Q: ... A. ...' layout 3 is left to the real data).
    return multiple_choice(stem, opts, (0, 1, 2, 4)[r.randrange(4)])


def near(x: int) -> list[str]:
    out = []
    for y in (x + 2, x - 1, x * 2, x + 5, x - 3, x + 10):
        if y != x and str(y) not in out and y >= 0:
            out.append(str(y))
    return out


# ---- LaTeX / competition math -----------------------------------------------------------------

def latex_math(r: random.Random) -> str:
    a, b, c, d = (r.randint(2, 19) for _ in range(4))
    v = r.choice("xyzntk")
    f = r.choice("fgh")
    P = r.choice(["ABC", "PQR", "XYZ", "DEF"])
    t = r.randrange(34)
    if t == 0:
        return f"Find ${v}$ if ${a}{v} + {b} = {c * a + b}$."
    if t == 1:
        return f"Compute $\\frac{{{a}}}{{{b}}} + \\frac{{{c}}}{{{d}}}$. Express your answer as a common fraction."
    if t == 2:
        return f"Evaluate $\\sqrt{{{a * a}}} + \\sqrt[3]{{{b ** 3}}}$."
    if t == 3:
        return f"Simplify $\\dfrac{{{v}^2 - {a * a}}}{{{v} - {a}}}$."
    if t == 4:
        return f"What is the value of ${a}^3 - {b}^2$?"
    if t == 5:
        return f"Solve for ${v}$: $\\log_{{{min(a, 9)}}} {v} = {r.randint(2, 4)}$."
    if t == 6:
        return f"Let ${f}({v}) = {a}{v}^2 - {b}{v} + {c}$. Find ${f}({d})$."
    if t == 7:
        return f"How many positive integers ${v}$ satisfy ${v}^2 < {a * b}$?"
    if t == 8:
        return f"Find the sum of all real solutions to \\[{v}^2 - {a + b}{v} + {a * b} = 0.\\]"
    if t == 9:
        return f"Compute \\[\\sum_{{k=1}}^{{{a}}} k^2.\\]"
    if t == 10:
        return (f"Let $a$ and $b$ be real numbers such that\n\\begin{{align*}}\na + b &= {a + b}, \\\\\n"
                f"a - b &= {a - b}.\n\\end{{align*}}\nFind $ab$.")
    if t == 11:
        return f"Express $0.\\overline{{{a}}}$ as a common fraction in lowest terms."
    if t == 12:
        return f"In triangle ${P}$, ${P[:2]} = {a}$, ${P[1:]} = {b}$, and $\\angle {P[1]} = 90^\\circ$. Find ${P[0]}{P[2]}$."
    if t == 13:
        return f"A fair {min(a, 12)}-sided die is rolled twice. What is the probability that the sum is {a}? Express your answer as a common fraction."
    if t == 14:
        return f"If $\\dbinom{{{v}}}{{2}} = {a * (a - 1) // 2}$, what is ${v}$?"
    if t == 15:
        return f"Find the remainder when ${a}^{{{b * 10}}}$ is divided by ${c}$."
    if t == 16:
        return (f"Compute $\\begin{{pmatrix}} {a} & {b} \\\\ {c} & {d} \\end{{pmatrix}} "
                f"\\begin{{pmatrix}} {b} \\\\ {a} \\end{{pmatrix}}$.")
    if t == 17:
        return f"The arithmetic sequence $a_1, a_2, a_3, \\ldots$ has $a_1 = {a}$ and common difference ${b}$. Find $a_{{{c + 10}}}$."
    if t == 18:
        return f"If ${v} + \\frac{{1}}{{{v}}} = {a}$, what is ${v}^2 + \\frac{{1}}{{{v}^2}}$?"
    if t == 19:
        return f"A sphere has radius {a} units. What is its volume, in cubic units? Express your answer in terms of $\\pi$."
    if t == 20:
        return f"What is the smallest positive integer ${v}$ such that ${v} \\equiv {a % 7} \\pmod{{7}}$ and ${v} \\equiv {b % 5} \\pmod{{5}}$?"
    if t == 21:
        return f"Find the domain of the function ${f}({v}) = \\sqrt{{{v} - {a}}} + \\frac{{1}}{{{v} - {a + b}}}$. Express your answer in interval notation."
    if t == 22:
        return (f"In the diagram, ${P[0]}{P[1]} = {a}$ and ${P[1]}{P[2]} = {b}$.\n\n[asy]\n"
                f"pair {P[0]} = (0,0), {P[1]} = ({a},0), {P[2]} = ({a},{b});\n"
                f"draw({P[0]}--{P[1]}--{P[2]}--cycle);\nlabel(\"${P[0]}$\", {P[0]}, SW);\n"
                f"label(\"${P[1]}$\", {P[1]}, SE);\nlabel(\"${P[2]}$\", {P[2]}, NE);\n[/asy]\n\n"
                f"What is the area of triangle ${P}$?")
    if t == 23:
        return f"How many distinct prime factors does ${a * b * c}$ have?"
    if t == 24:
        return f"A circle has center $({a}, -{b})$ and passes through the origin. What is its area? Express your answer in terms of $\\pi$."
    if t == 25:
        return f"Evaluate $\\lfloor \\sqrt{{{a * b + c}}} \\rfloor$."
    if t == 26:
        return f"Compute $\\tan {r.choice([30, 45, 60, 135, 210])}^\\circ$."
    if t == 27:
        return f"Let $N = {a}!$. How many zeros does $N$ end with when written in base ${min(b, 10)}$?"
    if t == 28:
        return f"Let ${f}(x) = {a}x + {b}$ and $g(x) = x^2 - {c}$. What is ${f}(g({d % 5}))$?"
    if t == 29:
        return f"Let $z = {a} + {b}i$. Find $|z|^2$."
    if t == 30:
        return f"For what value of ${v}$ is $\\frac{{{v} + {a}}}{{{v} - {b}}} = {c}$?"
    if t == 31:
        return f"How many ways are there to arrange the letters of a {a % 6 + 4}-letter word with all letters different?"
    if t == 32:
        return f"Let $S$ be the set of integers between $1$ and $2^{{{a}}}$ whose binary expansions have exactly two 1's. Find $|S|$."
    return f"Find the number of ordered pairs $(m,n)$ of positive integers such that $m + n = {a * b}$ and $\\gcd(m,n) = 1$."


# ---- narrative word problems ---------------------------------------------------------------------

THINGS = [("apples", "basket"), ("stickers", "album"), ("marbles", "jar"), ("cookies", "tray"),
          ("pencils", "box"), ("eggs", "carton"), ("books", "shelf"), ("shells", "bucket"),
          ("cupcakes", "plate"), ("coins", "purse"), ("flowers", "vase"), ("cards", "deck")]


def word_math(r: random.Random) -> str:
    n1, n2 = r.sample(NAMES, 2)
    pr = r.choice(["she", "he"])
    things, holder = r.choice(THINGS)
    a, b, c = r.randint(3, 60), r.randint(2, 20), r.randint(2, 9)
    p = r.randint(2, 25)
    t = r.randrange(16)
    if t == 0:
        q = f"{n1} has {num(r, a)} {things}. {pr.capitalize()} buys {num(r, b)} more and gives {num(r, c)} to {n2}. How many {things} does {n1} have now?"
        return q if r.random() < 0.7 else mc(r, q, str(a + b - c), near(a + b - c))
    if t == 1:
        return f"{n1} reads {num(r, b)} pages every day. How many pages will {pr} have read after {num(r, c)} weeks?"
    if t == 2:
        q = f"A shop sells {things} for ${p} each. {n1} buys {num(r, c)} of them and pays with a $100 bill. How much change does {pr} get?"
        return q if r.random() < 0.7 else mc(r, q, f"${100 - p * c}", [f"${x}" for x in near(100 - p * c)])
    if t == 3:
        return f"{n1} collected {num(r, a)} stamps, which is {num(r, b)} more than {n2}. How many stamps did they collect together?"
    if t == 4:
        return f"There are {num(r, a)} {things} in a {holder}. {n1} takes half of them and {n2} takes a third of what is left. How many {things} remain in the {holder}?"
    if t == 5:
        return f"{n1} drove {a * 10} miles on Monday and {num(r, b)} fewer miles on Tuesday. Calculate the total distance {pr} drove over the two days."
    if t == 6:
        return f"A hose fills a paddling pool at {num(r, c)} liters per minute. The pool holds {a * c} liters. How long does it take to fill half of it?"
    if t == 7:
        return f"{n1} earns ${p} an hour and works {num(r, c)} hours a day, {num(r, 5)} days a week. How much does {pr} earn in {num(r, b)} weeks?"
    if t == 8:
        return f"During a school fair, {n1} sold {num(r, a)} tickets on the first day, {num(r, b)} on the second day and twice as many on the third day as on the second. How many tickets did {pr} sell in all?"
    if t == 9:
        return f"{n1} is {num(r, c)} years older than {n2}. In {num(r, b)} years {n1} will be {a + b + c} years old. How old is {n2} now?"
    if t == 10:
        q = f"A recipe needs {c} cups of flour for {b} {things}. How many cups of flour are needed for {b * 3} {things}?"
        return q if r.random() < 0.6 else mc(r, q, str(c * 3), near(c * 3))
    if t == 11:
        return f"{n1} ran {num(r, c)} laps of a {a * 10}-meter track, and {n2} ran {num(r, b)} laps. How many more meters did {n2} run than {n1}?"
    if t == 12:
        q = f"A bicycle shop raised the price of a helmet from ${a * 4} by {r.choice([10, 20, 25, 50])} percent. What does the helmet cost now?"
        return q if r.random() < 0.5 else mc(r, q, "$" + str(a * 3), ["$" + x for x in near(a * 3)])
    if t == 13:
        return f"In a class of {a + 10} students, {num(r, c)} more students walk to school than take the bus, and the rest, {num(r, b)} students, are driven by their parents. How many students walk?"
    if t == 14:
        return f"Each {holder} holds {num(r, c)} {things}. {n1} has {num(r, b)} full {holder}s and {num(r, a % 7)} loose {things}. How many {things} does {pr} have?"
    return f"The average of {num(r, c)} numbers is {a}. If one more number, {b}, is added, what is the new average?"


# ---- programming with arithmetic content ---------------------------------------------------------

CODE_MATH = [
    ("sum_of_squares", "n: int", "int", "Return the sum of the squares of the integers from 1 to n.", "sum_of_squares(3)", "14"),
    ("is_prime", "n: int", "bool", "Return True if n is a prime number, and False otherwise.", "is_prime(7)", "True"),
    ("digit_sum", "n: int", "int", "Return the sum of the decimal digits of a non-negative integer n.", "digit_sum(1234)", "10"),
    ("fib", "n: int", "int", "Return the n-th Fibonacci number, where fib(0) = 0 and fib(1) = 1.", "fib(10)", "55"),
    ("gcd", "a: int, b: int", "int", "Return the greatest common divisor of two positive integers a and b.", "gcd(12, 18)", "6"),
    ("average", "numbers: list", "float", "Return the arithmetic mean of a list of numbers.", "average([1, 2, 4])", "2.33"),
    ("count_evens", "nums: list", "int", "Count how many numbers in the list are even.", "count_evens([1, 2, 4, 7])", "2"),
    ("factorial", "n: int", "int", "Return n! for a non-negative integer n.", "factorial(5)", "120"),
    ("is_perfect_square", "n: int", "bool", "Check whether n is a perfect square.", "is_perfect_square(49)", "True"),
    ("max_product_pair", "nums: list", "int", "Return the largest product of two distinct elements of the list.", "max_product_pair([3, 5, -2, 4])", "20"),
    ("reverse_number", "n: int", "int", "Reverse the digits of an integer, keeping its sign.", "reverse_number(-123)", "-321"),
    ("lcm_list", "nums: list", "int", "Return the least common multiple of all numbers in the list.", "lcm_list([4, 6, 10])", "60"),
    ("running_total", "nums: list", "list", "Return the list of partial sums of nums.", "running_total([1, 2, 3])", "[1, 3, 6]"),
    ("count_primes_below", "n: int", "int", "Count the prime numbers strictly less than n.", "count_primes_below(10)", "4"),
    ("median", "values: list", "float", "Return the median of a non-empty list of numbers.", "median([3, 1, 2])", "2"),
    ("to_binary", "n: int", "str", "Return the binary representation of a non-negative integer as a string.", "to_binary(10)", "'1010'"),
    ("nth_triangular", "n: int", "int", "Return the n-th triangular number, the sum 1 + 2 + ... + n.", "nth_triangular(4)", "10"),
    ("is_armstrong", "n: int", "bool", "Return True if n equals the sum of its digits each raised to the number of digits.", "is_armstrong(153)", "True"),
    ("percent_change", "old: float, new: float", "float", "Return the percentage change from old to new, rounded to one decimal place.", "percent_change(80, 100)", "25.0"),
    ("sum_multiples", "n: int", "int", "Return the sum of all multiples of 3 or 5 below n.", "sum_multiples(10)", "23"),
    ("hypotenuse", "a: float, b: float", "float", "Return the length of the hypotenuse of a right triangle with legs a and b.", "hypotenuse(3, 4)", "5.0"),
    ("count_divisors", "n: int", "int", "Return how many positive divisors n has.", "count_divisors(12)", "6"),
    ("matrix_trace", "m: list", "int", "Return the sum of the diagonal of a square matrix given as a list of rows.", "matrix_trace([[1, 2], [3, 4]])", "5"),
    ("second_largest", "nums: list", "int", "Return the second largest distinct value in the list, or None if there is none.", "second_largest([4, 1, 4, 3])", "3"),
    ("celsius_to_fahrenheit", "c: float", "float", "Convert a temperature from degrees Celsius to degrees Fahrenheit.", "celsius_to_fahrenheit(100)", "212.0"),
    ("digits_product", "n: int", "int", "Return the product of the odd digits of n, or 0 if all digits are even.", "digits_product(235)", "15"),
    ("round_to_nearest", "x: float, step: int", "int", "Round x to the nearest multiple of step.", "round_to_nearest(17, 5)", "15"),
    ("pascal_row", "n: int", "list", "Return row n of Pascal's triangle as a list of integers.", "pascal_row(4)", "[1, 4, 6, 4, 1]"),
    ("sum_of_cubes_odd", "n: int", "int", "Return the sum of the cubes of the first n odd natural numbers.", "sum_of_cubes_odd(2)", "28"),
    ("minutes_to_hours", "minutes: int", "str", "Given a number of minutes, return a string 'H:MM' with hours and minutes.", "minutes_to_hours(135)", "'2:15'"),
    ("max_subarray_sum", "nums: list", "int", "Return the largest sum of a contiguous sub-list of nums.", "max_subarray_sum([-2, 1, -3, 4, -1, 2])", "5"),
    ("is_leap_year", "year: int", "bool", "Return True if year is a leap year in the Gregorian calendar.", "is_leap_year(2000)", "True"),
    ("sum_even_fib", "limit: int", "int", "Return the sum of the even Fibonacci numbers not exceeding limit.", "sum_even_fib(100)", "44"),
    ("closest_pair_distance", "points: list", "float", "Given a list of numbers, return the smallest difference between any two of them.", "closest_pair_distance([5, 1, 9, 6])", "1"),
    ("weighted_score", "scores: list, weights: list", "float", "Return the weighted average of scores using the given weights.", "weighted_score([80, 90], [1, 3])", "87.5"),
]

LANGS = ["Python", "Java", "C++", "JavaScript", "Rust", "Go", "C#", "Kotlin"]


def _lower(s: str) -> str:
    return s[:1].lower() + s[1:]


def code_math(r: random.Random, item: tuple) -> list[str]:
    name, args, ret, doc, call, out = item
    task = _lower(doc.rstrip("."))
    lang = r.choice(LANGS)
    forms = [
        f'def {name}({args}) -> {ret}:\n    """{doc}\n    >>> {call}\n    {out}\n    """\n',
        f'\ndef {name}({args.split(":")[0] if r.random() < 0.5 else args}):\n    """\n    {doc}\n\n    Example:\n    {call} == {out}\n    """\n',
        f"Write a function to {task}.",
        f"Write a {lang} function that takes {args.split(':')[0]} and returns {task.split('return ')[-1] if 'return ' in task else task}.",
        task,
        f"How do I {task} in {lang}?",
        f"{doc} For example, {call} should give {out}.",
        f"Implement {name} in {lang}: {task}.",
        f"```python\ndef {name}({args}):\n    # TODO: {task}\n    pass\n```\nComplete this function.",
    ]
    return r.sample(forms, 5)


def wrap_as_code(r: random.Random, problem: str) -> str:
    """A word problem as a programming task: the content of math, the layout of code."""
    name = r.choice(["solve", "answer", "compute_result", "how_many", "total"])
    lang = r.choice(LANGS)
    body = problem.replace("\n", "\n    ")
    forms = [
        f'def {name}() -> int:\n    """{body}\n\n    Return the answer as an integer.\n    """\n',
        f'def {name}(data: dict) -> float:\n    """\n    {body}\n    The numbers are given in data; return the result.\n    """\n',
        f"Write a {lang} program that solves the following and prints the answer: {problem}",
        f"Write a function that reads the numbers from input and computes this: {problem}",
    ]
    return r.choice(forms)


# ---- everyday programming ---------------------------------------------------------------------------

SYSTEMS = [
    "read a CSV file and print every row", "check whether a file exists",
    "open a TCP socket to a server and read the reply", "run a shell command and capture its output",
    "start a background thread", "wait for a subprocess to finish with a timeout",
    "create a temporary directory", "copy a file to another folder", "zip a folder",
    "extract a tar.gz archive", "count word frequencies in a text file", "strip whitespace from each line",
    "serialize an object to JSON", "log messages to a file with timestamps", "parse command line arguments",
    "retry a request when it fails", "read environment variables with a default",
    "connect to a SQLite database and run a query", "escape HTML in a string",
    "validate an email address with a regex", "compress a string with gzip",
    "make a GET request and print the status code", "hash a password", "generate a UUID",
    "pick a random element from a list", "shuffle a list in place", "join a list of strings with a separator",
    "read a YAML config file", "measure how long a function takes", "cache the results of a function",
    "cancel a task after a timeout", "decode bytes to a string", "encode a string as base64",
    "sort a dictionary by its values", "delete a key from a dictionary", "create a class with a constructor",
    "handle an exception and print the error", "open a URL in the browser", "set a cookie in a web response",
    "close a database connection safely", "upload a file with a multipart form request",
    "watch a directory for new files", "read a gzip-compressed text file",
    "convert a timestamp to a time zone", "pad a string with zeros on the left",
    "calculate an MD5 checksum of a file", "stream a large HTTP response to disk in chunks",
    "kill a child process that hangs", "schedule a job every night at midnight",
    "lock a file so two processes cannot write it at once", "trim a video file with ffmpeg from a script",
    "parse an XML document and print its tags", "set up a virtual environment and install requirements",
    "profile which function is slowest", "deep copy a nested dictionary",
    "group a list of records by one field", "send an email with an attachment",
]
DOCSTRINGS = [
    "Return the {o} of the {s}.", "Set the {o} for this {s}.", "Read the {o} from the {s}.",
    "Send the {o} over the {s}.", "Create a new {s} with the given {o}.", "Remove the {o} from the {s} if present.",
    "Raise an error if the {s} is already closed.", "Flush the {s} {o} to disk.", "Yield each {o} of the {s}.",
    "Wrap the {s} so that its {o} can be shared between threads.", "Look up the {o} of the {s}; None if unset.",
]
OBJ = ["name", "timeout", "encoding", "buffer", "file descriptor", "headers", "path", "lock", "state", "cache",
       "size", "mode", "handler", "payload", "socket options", "exit code", "arguments", "entries"]
SUBJ = ["connection", "stream", "archive", "request", "socket", "thread", "queue", "logger", "parser",
        "process", "channel", "transport", "session", "cursor", "selector", "server", "pool"]


def code_systems(r: random.Random, task: str) -> list[str]:
    lang = r.choice(LANGS)
    forms = [task, f"how to {task}", f"{task} in {lang.lower()}", f"How do I {task}?",
             f"What is the best way to {task} in {lang}?", f"Write a program to {task}.",
             f"I need to {task}. My code throws an error, what am I doing wrong?",
             f"Write a {lang} script that will {task}, and print a message when it is done."]
    return r.sample(forms, 4)


# ---- trivia and science with figures ------------------------------------------------------------

TITLE_A = ["Silver", "Northern", "Golden", "Broken", "Distant", "Hidden", "Crimson", "Quiet", "Iron", "Last"]
TITLE_B = ["Harbor", "Empire", "Garden", "Horizon", "Station", "River", "Kingdom", "Summer", "Crown", "Road"]
PEOPLE = ["Alma Rinder", "Josef Kalny", "Marguerite Olsson", "Tomasz Wiel", "Hector Baume", "Ingrid Solheim",
          "Rafael Oquendo", "Clara Weston", "Dario Fenwick", "Edith Marlow", "Kofi Mensah", "Lucia Ferrante"]
PLACES = ["Brannock", "Eastvale", "Port Ellery", "Kesterton", "San Ambrosio", "Lindholm", "Vareska", "Coldwater"]


def pr_y(y: int) -> str:
    return str(y)


def trivia(r: random.Random) -> str:
    title = f"{r.choice(TITLE_A)} {r.choice(TITLE_B)}"
    who, who2 = r.sample(PEOPLE, 2)
    place = r.choice(PLACES)
    y = r.randint(1820, 2022)
    n = r.randint(2, 40)
    t = r.randrange(28)
    if t == 0:
        return f"How many albums had the band that recorded {title} released before {y}?"
    if t == 1:
        return f"How many seasons did the television series {title} run before it ended in {y}?"
    if t == 2:
        return f"In what year was the {place} bridge, designed by {who}, opened to traffic?"
    if t == 3:
        return f"Which city founded in {y} is home to the {title} festival?"
    if t == 4:
        return f"Which musician, {who} or {who2}, was born first, and in which decade?"
    if t == 5:
        return f"What is the population of the town of {place}, where {who} was born in {y}?"
    if t == 6:
        return f"The {title} stadium seats {n * 1000} people. Which football club plays its home games there?"
    if t == 7:
        return f"Which of the two films, {title} or {r.choice(TITLE_A)} {r.choice(TITLE_B)}, has more than {n} Oscar nominations?"
    if t == 8:
        return f"Would {n * 3} people fit on one city bus?"
    if t == 9:
        return f"Is {n * 7} a common number of players on a sports team?"
    if t == 10:
        return f"Could a person drink {n} liters of water in one day?"
    if t == 14:
        return f"How many studio albums did {who} release before {pr_y(y)}?"
    if t == 15:
        return f"How many people live in {place}, the town where {title} was filmed?"
    if t == 16:
        return f"How many floors does the {title} Tower in {place} have?"
    if t == 17:
        return f"How many Grammy awards has the singer of \"{title}\" won?"
    if t == 11:
        return f"In the {y} season, which player scored {n} goals for {place} United?"
    if t == 12:
        return f"What was the running time, in minutes, of the {y} film {title}?"
    if t == 13:
        return f"How many times has {place} won the {title} Cup since {y}?"
    # science with quantities: the figures set the scene; the question asks for a fact
    sci = [
        (f"An octopus has three hearts and {num(r, 8)} arms. Where does an octopus live?", "in the sea",
         ["in deserts", "in trees", "underground"]),
        (f"A bar of iron left outside in the rain for {num(r, n)} days turns orange-brown. What process caused this?",
         "rusting", ["melting", "evaporation", "photosynthesis"]),
        (f"Jupiter has more than {n + 60} known moons. What kind of planet is Jupiter?",
         "a gas giant", ["a rocky planet", "a dwarf planet", "a star"]),
        (f"A cactus can go {n} weeks without rain. In what kind of place do cacti usually grow?", "deserts",
         ["rainforests", "ponds", "glaciers"]),
        (f"A tomato plant on a balcony grows {n} leaves in {num(r, n % 9 + 2)} weeks. Which gas do its leaves give off in sunlight?",
         "oxygen", ["helium", "neon", "hydrogen"]),
        (f"Bats can hear sounds above {n} kilohertz. What do bats use these high sounds for?",
         "finding their way by echoes", ["making light", "storing food", "digesting food"]),
        (f"A hummingbird beats its wings about {n + 40} times per second. Which class of animals does it belong to?",
         "birds", ["insects", "mammals", "reptiles"]),
        (f"Mount {r.choice(PLACES)} rises {n * 200} meters above sea level. Why is the air thinner at its top?",
         "there is less air pressure", ["it is closer to the sun", "there are more trees", "the rocks absorb air"]),
        (f"A blue whale can be {n + 10} meters long. Is a whale a fish or a mammal?", "a mammal", ["a fish", "an amphibian"]),
    ]
    q, a, wrong = r.choice(sci)
    return q if r.random() < 0.4 else mc(r, q, a, wrong)


def generate() -> list[dict]:
    r = random.Random(SEED)
    rows = []

    def add(kind: str, domain: str, prompt: str) -> None:
        rows.append({"kind": kind, "domain": domain, "prompt": prompt})

    for _ in range(500):
        add("synth_latex_math", "math", latex_math(r))
    for _ in range(500):
        add("synth_word_math", "math", word_math(r))
    for item in CODE_MATH:
        for p in code_math(r, item):
            add("synth_code_math", "coding", p)
    for task in SYSTEMS:
        for p in code_systems(r, task):
            add("synth_code_systems", "coding", p)
    for _ in range(150):
        d = r.choice(DOCSTRINGS).format(o=r.choice(OBJ), s=r.choice(SUBJ), f="")
        add("synth_code_systems", "coding", d)
    for _ in range(150):
        add("synth_code_math", "coding", wrap_as_code(r, word_math(r)))
    for _ in range(500):
        add("synth_trivia_numbers", "commonsense", trivia(r))
    seen, out = set(), []
    for row in rows:  # deduplicate, keep the first
        if row["prompt"] not in seen:
            seen.add(row["prompt"])
            out.append(row)
    return out


def main() -> int:
    rows = generate()
    OUT.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")
    counts: dict[str, int] = {}
    for x in rows:
        counts[x["kind"]] = counts.get(x["kind"], 0) + 1
    print(OUT, counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
