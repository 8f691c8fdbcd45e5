import pytest

from nlrl import ConfigError, ScriptedBackend
from nlrl.tasks.prompts import STOP, build_prompt, load_template


@pytest.mark.parametrize("domain", ["math", "coding", "commonsense"])
def test_each_domain_renders_few_shot_completion_prompt(domain):
    spec = build_prompt("What is 2 + 2?", domain)
    assert spec.text.endswith("Question: What is 2 + 2?\nAnswer:")
    assert spec.text.count("Question:") == len(load_template(domain)["examples"]) + 1
    assert spec.stop == STOP and spec.messages is None
    if domain != "coding":
        assert "Final Answer:" in spec.text
    else:
        assert "```python" in spec.text


def test_difficulty_and_steps_shape_the_prompt():
    easy = build_prompt("q", "math", difficulty="easy")
    hard = build_prompt("q", "math", difficulty="hard", steps=3)
    assert easy.text.count("Question:") == 2
    assert "hard problem" in hard.text and "at most 3 steps" in hard.text
    with pytest.raises(ConfigError):
        build_prompt("q", "math", difficulty="extreme")
    with pytest.raises(ConfigError):
        build_prompt("q", "math", steps=0)
    with pytest.raises(ConfigError):
        build_prompt("q", "poetry")


def test_instruction_override():
    assert build_prompt("q", "math", instruction="Be terse.").text.startswith("Be terse.")


def test_chat_backend_gets_messages_through_its_template():
    b = ScriptedBackend(["x"], chat=True)
    spec = build_prompt("What is 2 + 2?", "math", backend=b)
    assert spec.messages[0]["role"] == "system"
    assert spec.messages[-1] == {"role": "user", "content": "What is 2 + 2?"}
    assert spec.text.endswith("<assistant>\n") and spec.stop == ()
