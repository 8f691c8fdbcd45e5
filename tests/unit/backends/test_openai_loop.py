"""The openai backend on a caller's event loop: ``attach_loop`` / ``agenerate`` / ``detach_loop``."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

from nlrl import ConfigError, SamplingParams
from nlrl.backends import ScriptedBackend
from nlrl.backends.openai import OpenAIBackend


class Upstream:
    """An in-process OpenAI completions server (httpx MockTransport) that notes the thread each
    request was made from."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.threads.append(threading.current_thread())
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "m"}]})
        body = json.loads(request.content)
        text = f" <{body['prompt']}>"
        return httpx.Response(200, json={
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}})


def backend(up: Upstream) -> OpenAIBackend:
    return OpenAIBackend("m", base_url="http://up.test/v1", transport=httpx.MockTransport(up))


def test_attached_loop_makes_the_requests_on_it_and_is_given_back():
    up = Upstream()
    b = backend(up)
    assert b.generate(["before"], SamplingParams())[0].texts == [" <before>"]  # its own loop thread
    assert up.threads[-1].name == "nlrl-openai"

    async def main() -> None:
        me = threading.current_thread()
        assert b.attach_loop(asyncio.get_running_loop()) is True
        gens = await b.agenerate(["a", "b"], SamplingParams(max_tokens=4))
        assert [g.texts for g in gens] == [[" <a>"], [" <b>"]]
        assert gens[0].usage.prompt_tokens == 3 and gens[0].usage.completion_tokens == 2
        assert up.threads[-1] is me and up.threads[-2] is me
        # generate from another thread sends its requests to this loop
        got = await asyncio.to_thread(b.generate, ["c"], SamplingParams())
        assert got[0].texts == [" <c>"] and up.threads[-1] is me
        # on the loop itself the sync call would deadlock: refused with a clear error
        with pytest.raises(ConfigError, match="await agenerate"):
            b.generate(["d"], SamplingParams())
        await b.detach_loop()

    asyncio.run(main())
    # given back: works as before, on a loop thread of its own again
    assert b.generate(["e"], SamplingParams())[0].texts == [" <e>"]
    assert up.threads[-1].name == "nlrl-openai"
    b.close()


def test_agenerate_from_another_loop_runs_on_the_backends_own():
    up = Upstream()
    b = backend(up)

    async def main() -> list:
        return await b.agenerate(["x"], SamplingParams())

    assert asyncio.run(main())[0].texts == [" <x>"]
    assert up.threads[-1].name == "nlrl-openai"
    b.close()


def test_close_while_attached_leaves_the_callers_loop_running():
    up = Upstream()
    b = backend(up)

    async def main() -> None:
        b.attach_loop(asyncio.get_running_loop())
        await b.agenerate(["a"], SamplingParams())
        await asyncio.to_thread(b.close)  # closes its client on this loop; the loop goes on
        assert (await asyncio.sleep(0, "alive")) == "alive"

    asyncio.run(main())
    assert b.generate(["b"], SamplingParams())[0].texts == [" <b>"]
    b.close()


def test_default_agenerate_is_generate_in_a_thread():
    b = ScriptedBackend(lambda p, i: f" {p}!")

    async def main() -> list:
        assert b.attach_loop(asyncio.get_running_loop()) is False
        return await b.agenerate(["q"], SamplingParams())

    assert asyncio.run(main())[0].texts == b.generate(["q"], SamplingParams())[0].texts
