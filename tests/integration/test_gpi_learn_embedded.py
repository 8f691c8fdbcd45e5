"""Learning GPI on the real embedded model: the GGUF loaded by transformers, LoRA-trained, and
generating through the HF backend with the adapter."""

from __future__ import annotations

import pytest

pytest.importorskip("peft")
pytest.importorskip("gguf")
torch = pytest.importorskip("torch")

from nlrl.backends import SamplingParams  # noqa: E402
from nlrl.backends.llama import default_model_path  # noqa: E402
from nlrl.gpi.learn import json_target  # noqa: E402
from nlrl.gpi.llm import THOUGHT_PREFIX  # noqa: E402
from nlrl.gpi.train import Distiller, Example, load_embedded_hf  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(1800)  # the first load dequantises the GGUF (minutes on busy cores)
def test_embedded_model_learns_a_target_and_generates_through_the_adapter(tmp_path):
    torch.set_num_threads(1)
    backend = load_embedded_hf("cpu")
    try:
        assert backend.model.num_parameters() > 2e8  # the dequantised 270M model
        # the GGUF itself, whether dequantised now or loaded from its cached copy: a learning
        # run's saved settings name it, and a resume compares them
        assert backend.model_name == default_model_path()
        prompt = "Tic-tac-toe. Pick a cell. JSON on one line.\nBoard: empty\n" + THOUGHT_PREFIX
        ex = [Example(prompt, json_target(thought="5 wins 90%", action="5"))]
        greedy = SamplingParams(max_tokens=12, stop=["\n"])
        untrained = backend.complete(prompt, greedy).completions[0].text
        d = Distiller(backend, rank=8, lr=5e-3, epochs=6, batch_size=1)
        before = d.loss(ex)
        d.fit(ex)
        after = d.loss(ex)
        assert after < before / 2
        assert backend.complete(prompt, greedy).completions[0].text != untrained  # generates with the adapter
        d.save(tmp_path / "adapter")
        d.load(tmp_path / "adapter")
        assert abs(d.loss(ex) - after) < 1e-3
    finally:
        backend.close()
