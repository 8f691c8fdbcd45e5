"""What a fresh install and the README's set-up promise: warning-free dependencies, two commands."""

import re
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def _requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {Requirement(r).name.lower().replace("_", "-"): Requirement(r) for r in project["dependencies"]}


def test_every_requested_extra_is_one_the_distribution_publishes():
    # pip < 24 compares extras by their spelling: one the project does not publish is a warning.
    for name, req in _requirements().items():
        if req.extras:
            published = set(distribution(name).metadata.get_all("Provides-Extra") or [])
            assert req.extras <= published, (name, req.extras, published)


def test_the_math_grader_has_the_antlr_runtime_it_was_generated_for():
    reqs = _requirements()
    assert "math-verify" in reqs and str(reqs["antlr4-python3-runtime"].specifier) == "==4.13.2"
    assert distribution("antlr4-python3-runtime").version == "4.13.2"
    from math_verify import parse, verify

    assert verify(parse("$\\frac{1}{2}$"), parse("$0.5$"))  # LaTeX parsing needs the runtime


def test_platformdirs_is_a_declared_dependency():
    assert "platformdirs" in _requirements()


def test_readme_set_up_has_two_commands_and_the_second_is_ci():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", setup, flags=re.S)
    assert len(commands) == 2 and all("\n" not in c for c in commands), commands
    assert commands[0].startswith("python3 -m pip install") and "nlrl solve" in commands[0]
    # .ci/run runs exactly that command; as root it also installs the optional system packages
    # first and reruns the verifier tests as a throwaway user after (both guarded by the uid).
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands[1] in ci
    extra = [ln for ln in ci if ln and ln != commands[1] and not ln.startswith(("#", "set ", "cd ", "fi", "export NLRL_"))]
    assert all('$(id -u)' in ln or ln.startswith("if ! command -v") for ln in extra), extra
    assert "python3 -m venv .venv && . .venv/bin/activate" in setup and "pipx install" in setup
