"""The application shell: --version, help text, and errors that become one line."""

import re
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from nlrl.cli import app

runner = CliRunner()


def test_version():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == f"nlrl {version('nlrl')}"
    assert re.fullmatch(r"nlrl \d+\.\d+\.\d+\S*", r.stdout.strip())


def test_root_help_says_where_the_log_goes():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "nlrl.log" in text and "NLRL_RUN_DIR" in text and "~/.cache/nlrl" in text
    assert "--version" in text


@pytest.mark.parametrize("command, shown, hidden", [
    (["solve"], ["PROMPT", "--run-dir DIR"], ["{prompt}", "<list[str]>", "list[str]"]),
    (["bench"], ["-O, --strategy-option KEY=VALUE", "--field ATTR=COLUMN"], ["<list[str]>", "list[str]"]),
    (["report"], ["RUN...", "--out DIR"], ["{runs}", "list[str]"]),
    (["grade"], ["PREDICTIONS.jsonl", "--out VERDICTS.jsonl", "--allow-errors"], ["{predictions}"]),
    (["classify"], ["[PROMPT]"], ["{prompt}"]),
    (["gpi"], ["--threads", "--run-dir DIR"], ["list[str]"]),
])
def test_help_placeholders_are_what_a_user_types(command, shown, hidden):
    r = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    for s in shown:
        assert s in text, (s, text)
    for s in hidden:
        assert s not in text, (s, text)


def test_an_unanticipated_os_error_is_one_line_naming_the_path(tmp_path):
    # The shell's last line of defence, on an app of its own: a path under a regular file fails
    # with ENOTDIR for root too (no permission bits involved).
    import typer

    from nlrl.cli._app import _OneLineErrors

    shell = typer.Typer(cls=_OneLineErrors, add_completion=False)

    @shell.command()
    def write(path: str) -> None:
        open(path, "w").close()

    @shell.command()
    def other() -> None:
        pass

    blocker = tmp_path / "file"
    blocker.write_text("")
    r = runner.invoke(shell, ["write", str(blocker / "x.txt")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr == f"error: {blocker / 'x.txt'}: Not a directory\n"


def test_a_run_dir_that_cannot_be_created_is_one_line(tmp_path):
    script = tmp_path / "s.json"
    script.write_text("[]")
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = runner.invoke(app, ["classify", "What is 2 + 2?", "-b", "scripted", "-m", str(script),
                            "--run-dir", str(blocker / "run")])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert str(blocker / "run") in r.stderr
