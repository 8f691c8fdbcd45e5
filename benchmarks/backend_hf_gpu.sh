#!/usr/bin/env bash
# Issue 4's GPU figures in one prepared run (a lent GPU machine has minutes, not hours):
#   bash benchmarks/backend_hf_gpu.sh              # every step; results in $OUT (default benchmarks/results)
#   STEPS="2 4" bash benchmarks/backend_hf_gpu.sh  # some of them
# 1. exactness: a tiny model in float32, greedy tokens of the CUDA-graph decoder vs the eager loop;
# 2. the figure: best-of-16 on Qwen2.5-0.5B's shape (bf16), graph vs eager vs the loop of
#    16 generate calls vs generate(num_return_sequences=16), and 64 samples;
# 3. the step compiled by inductor before capture, against the plain graph in the same run;
# 4. streaming as the pipeline does it (a token callback and a stop string), compiled with 64
#    samples, and one sample;
# 5. a profile of one step: kernels, their GPU time, eager vs graph replay.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-benchmarks/results}"
STEPS="${STEPS:-1 2 3 4 5}"
mkdir -p "$OUT"
B=benchmarks/backend_hf_gpu.py
R="$OUT/backend_hf_cuda.json"
quiet() { grep -v -e "Loading weights" -e "Writing model" -e "^  " -e "^{" -e "^}"; }
has() { [[ " $STEPS " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
if has 1; then
  echo "== 1. exactness (tiny, float32)"
  timeout 150 python3 $B --synthetic tiny --device cuda --dtype float32 --max-tokens 64 \
    --methods nlrl_eager,nlrl_graph --out "$OUT/backend_hf_cuda_check.json" 2>&1 | quiet
fi
if has 2; then
  echo "== 2. best-of-16, 0.5B shape, bf16"
  timeout 300 python3 $B --synthetic 0.5b --device cuda --out "$R" 2>&1 | quiet
  timeout 150 python3 $B --synthetic 0.5b --device cuda --n 64 --methods nlrl_eager,nlrl_graph --out "$R" 2>&1 | quiet
fi
if has 3; then
  echo "== 3. compiled step"
  timeout 240 python3 $B --synthetic 0.5b --device cuda --methods nlrl_graph,nlrl_compiled --out "$R" 2>&1 | quiet
fi
if has 4; then
  echo "== 4. streaming; compiled at 64 samples; one sample"
  timeout 200 python3 $B --synthetic 0.5b --device cuda \
    --methods nlrl_eager_live,nlrl_graph,nlrl_graph_live,nlrl_compiled,nlrl_compiled_live --out "$R" 2>&1 | quiet
  timeout 140 python3 $B --synthetic 0.5b --device cuda --n 64 --methods nlrl_graph,nlrl_compiled --out "$R" 2>&1 | quiet
  timeout 130 python3 $B --synthetic 0.5b --device cuda --n 1 --methods nlrl_eager,nlrl_graph,nlrl_compiled --out "$R" 2>&1 | quiet
fi
if has 5; then
  echo "== 5. profile of one decode step"
  timeout 240 python3 benchmarks/backend_hf_gpu_profile.py --synthetic 0.5b --device cuda \
    --out "$OUT/backend_hf_cuda_profile.json" 2>&1 | quiet
fi
echo "== done"
