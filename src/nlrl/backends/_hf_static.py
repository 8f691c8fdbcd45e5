"""A fixed-shape decode step for the transformers backend: static KV cache, optional CUDA graph.

Why: a small model's decode step on a GPU is bound by kernel launches, not by the GPU. A 0.5B
Qwen2 step is a few hundred kernels of microseconds each; launched one by one from Python they
cost far more than the weights take to read (about 0.3 ms on an H100). Replaying the whole step
as one captured CUDA graph removes that cost, but a graph replays fixed addresses and shapes, so
everything the step touches must be preallocated and updated in place:

* the KV cache is transformers' ``StaticCache`` (``batch`` rows of ``max_len`` positions), whose
  layers advance their own write position (a device tensor) inside the step;
* the attention mask is a 4-D additive mask ``(batch, 1, 1, max_len)`` passed to the model as is
  (transformers uses a 4-D mask unchanged); the step opens the position it writes;
* the input token and position ids are ``(batch, 1)`` buffers; the step advances the positions.

Rows never leave the batch (a graph's shape is fixed): a finished sample's row keeps decoding
and its tokens are ignored. On a GPU the extra rows are nearly free, since a decode step reads
the weights once whatever the batch.

We capture the graph ourselves (``torch.cuda.CUDAGraph``) instead of using
``torch.compile(mode="reduce-overhead")``: the issue reports that path segfaulting with
transformers 5.17 and torch 2.11 after inductor skipped CUDA graphs because the cache mutates its
inputs, and a plain capture has no such rule. ``compile=True`` additionally compiles the step with
inductor (fused kernels) before it is captured.

Only models whose cache layers are all plain full-attention ``StaticLayer``s (with the
``cumulative_length`` write position of transformers >= 5) qualify; ``StaticDecoder`` raises
``Unsupported`` otherwise and the backend falls back to its eager loop.
"""

from __future__ import annotations

from typing import Any


class Unsupported(RuntimeError):
    """This model (or transformers version) cannot use the fixed-shape decode step."""


def _kv_layers(cache: Any) -> list[Any]:
    layers = getattr(cache, "layers", None)
    if not layers:
        raise Unsupported("this transformers version has no per-layer cache objects")
    return list(layers)


class StaticDecoder:
    """``batch`` rows decoding over ``max_len`` cache positions, one fixed-shape step at a time."""

    def __init__(self, model: Any, batch: int, max_len: int, *, cache_kw: str, keep_kw: str | None,
                 graph: bool = False, compile: bool = False) -> None:
        import torch
        from transformers import StaticCache

        self._torch = torch
        self.model = model
        self.batch, self.max_len = batch, max_len
        dev, dtype = model.device, model.dtype
        self.cache = StaticCache(config=model.config, max_cache_len=max_len)
        self._kw: dict[str, Any] = {cache_kw: self.cache, **({keep_kw: 1} if keep_kw else {})}
        self.input_ids = torch.zeros((batch, 1), dtype=torch.long, device=dev)
        self.position_ids = torch.zeros((batch, 1), dtype=torch.long, device=dev)
        self._closed = torch.finfo(dtype).min
        self.mask = torch.full((batch, 1, 1, max_len), self._closed, dtype=dtype, device=dev)
        self.layers = _kv_layers(self.cache)
        for layer in self.layers:
            if getattr(layer, "is_sliding", False) or not hasattr(layer, "cumulative_length"):
                raise Unsupported(f"cache layer {type(layer).__name__} is not a full-attention static layer")
        self._step_fn = self._step
        self._step()  # allocates the cache's rows (StaticCache sizes them lazily)
        if compile:
            self._step_fn = torch.compile(self._step, dynamic=False, fullgraph=False)
        self.graph: Any = None
        self.logits: Any = None
        if graph:
            self._capture()

    # ---- the step -------------------------------------------------------------------------

    def _step(self) -> Any:
        # Open the position this step writes (position_ids hold it in every row), run the
        # model on one token per row, move the position on. All in place: graph-safe.
        self.mask.index_fill_(3, self.position_ids[0], 0.0)
        out = self.model(input_ids=self.input_ids, position_ids=self.position_ids,
                         attention_mask=self.mask, use_cache=True, **self._kw)
        self.position_ids.add_(1)
        return out.logits[:, -1, :]

    def _capture(self) -> None:
        with self._torch.cuda.device(self.model.device):  # the model's GPU, not the current one
            self._capture_here()

    def _capture_here(self) -> None:
        torch = self._torch
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm up off the default stream, as torch advises
            for _ in range(3):  # (cuBLAS workspaces, inductor's autotuning if compiled)
                self._step_fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.logits = self._step_fn()
        self.graph = graph

    # ---- use --------------------------------------------------------------------------------

    def start(self, prompt_cache: Any, prompt_len: int) -> None:
        """Load a batch-1 prefill cache (``prompt_len`` positions) into every row."""
        if prompt_len >= self.max_len:
            raise ValueError(f"prompt of {prompt_len} tokens does not fit {self.max_len} cache positions")
        src = _kv_layers(prompt_cache)
        if len(src) != len(self.layers):
            raise Unsupported("prefill cache and static cache have different layer counts")
        for s, d in zip(src, self.layers):
            d.keys[:, :, :prompt_len].copy_(s.keys[:, :, :prompt_len])  # broadcast over rows
            d.values[:, :, :prompt_len].copy_(s.values[:, :, :prompt_len])
            d.cumulative_length.fill_(prompt_len)
        self.position_ids.fill_(prompt_len)
        self.mask.fill_(self._closed)
        self.mask[..., :prompt_len] = 0.0

    def step(self, tokens: Any) -> Any:
        """Feed one token per row (``batch`` of them); the next logits, ``(batch, vocab)``.

        With a graph, the logits live in the graph's output buffer: the next ``step`` overwrites
        them, so use them (on the same stream) before calling again."""
        self.input_ids.copy_(tokens.view(self.batch, 1))
        if self.graph is not None:
            self.graph.replay()
            return self.logits
        return self._step_fn()
