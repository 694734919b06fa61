#!/usr/bin/env bash
# One call on the GPU machine: correctness of the CUDA path, then naive loop vs engine timing.
#   bash benchmarks/gpu_check.sh            (from the repo root; needs python3 with torch + transformers)
# The packaged SmolLM2 file (93 MB) cannot travel to that machine (64 MiB limit), so timing uses
# conf/model/smollm2-shape.yaml: random weights, SmolLM2-135M's exact architecture, same FLOPs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name())"
python3 benchmarks/gpu_check.py
python3 benchmarks/engine.py --model smollm2-shape --device cuda --dtype bfloat16 --L 256 \
    --batch 64 128 --steps 50 --naive-steps 100 --warmup 5 --peak-tflops 790
