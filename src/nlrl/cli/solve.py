"""``nlrl solve PROMPT``: stream the model's gists, then print the final answer."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from ._app import app
from .options import (BackendOpt, BaseUrlOpt, ModelOpt, RewardAggregationOpt, RewardOpt, RunDirOpt,
                      StrategyOptionOpt, build_backend, check_prompt_options, cli_settings, parse_pairs, reward_spec)


@app.command()
def solve(
    prompt: str = typer.Argument(..., metavar="PROMPT", help="The question to answer ('-' reads it from stdin)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", "-s", help="Reasoning strategy (cot, self-consistency, best-of-n, ..., auto)."),
    strategy_option: StrategyOptionOpt = None,
    n: Optional[int] = typer.Option(None, "--n", help="Samples / width / rounds the strategy may use."),
    reward: RewardOpt = None,
    reward_aggregation: RewardAggregationOpt = None,
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Token limit per completion."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature (0 = greedy)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for sampling."),
    domain: Optional[str] = typer.Option(None, "--domain", help="Skip classification: math, coding or commonsense."),
    difficulty: Optional[str] = typer.Option(None, "--difficulty", help="easy, medium or hard: shapes the prompt."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Ask for at most this many reasoning steps."),
    no_adaptive: bool = typer.Option(False, "--no-adaptive", help="Do not stop once the answer line is complete."),
    classify_with_model: bool = typer.Option(False, "--classify-with-model", help="Ask the model when the classifier is unsure."),
    chat: bool = typer.Option(False, "--chat", help="Instruct model: render prompts with its chat template."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of streaming."),
    backend: BackendOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    run_dir: RunDirOpt = None,
) -> None:
    """Answer PROMPT: classify it, build a chain-of-thought prompt, run a strategy, print the answer."""
    from ..pipeline import Pipeline
    from ..tasks.task import ensure_text

    if prompt == "-":
        prompt = sys.stdin.buffer.read()  # type: ignore[assignment]
    text = ensure_text(prompt if isinstance(prompt, bytes) else _argv_text(prompt))
    if domain is not None:
        from ..tasks.classify import DOMAINS

        if domain not in DOMAINS:
            raise typer.BadParameter(f"must be one of {', '.join(DOMAINS)}", param_hint="--domain")
    check_prompt_options(difficulty, steps, reward)
    spec = reward_spec(reward, reward_aggregation)
    options = parse_pairs(strategy_option, "--strategy-option", values=True)
    settings = cli_settings(backend, model, base_url, run_dir, strategy_options=options, chat=chat or None,
                            strategy=strategy, n=n, max_tokens=max_tokens, temperature=temperature, seed=seed)
    engine = build_backend(settings, base_url)
    with engine:
        scorer = None if spec is None else spec.build(engine)
        from ..strategies import get_strategy

        pipe = Pipeline(engine, strategy=get_strategy(settings.strategy, **options), reward=scorer, n=settings.n, max_tokens=settings.max_tokens,
                        temperature=settings.temperature, seed=settings.seed, difficulty=difficulty,
                        steps=steps, adaptive=not no_adaptive, classify_with_model=classify_with_model)
        if as_json:
            result = pipe.solve(text, domain=domain)
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
            return
        err = sys.stderr
        last = [-1]

        def show(gist: object) -> None:
            sample = getattr(gist, "sample", 0)
            if sample != last[0]:
                err.write(f"\n[sample {sample}]\n" if last[0] != -1 or sample else "")
                last[0] = sample
            err.write(getattr(gist, "text", ""))
            err.flush()

        result = pipe.solve(text, domain=domain, on_gist=show)
        err.write("\n")
        u = result.usage
        err.write(f"[{result.domain} · {result.strategy} · {u.completion_tokens} tokens generated · "
                  f"{u.prompt_tokens} prompt tokens evaluated · {u.calls} calls · {result.elapsed_s:.1f}s]\n")
        typer.echo(f"Final Answer: {result.final_answer if result.final_answer is not None else '(none)'}")


def _argv_text(prompt: str) -> str:
    """Command-line arguments that were not UTF-8 arrive surrogate-escaped: reject them."""
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        from .._exceptions import PromptError

        raise PromptError("prompt is not valid UTF-8") from None
    return prompt
