#!/usr/bin/env bash
# The GPU checks of the fast-kernel work, in one command, on a machine with a CUDA GPU:
#   1. the LIF kernels' tests on the GPU (Triton and compiled backends against the reference);
#   2. the step-time benchmark: ResNet-19 and the narrow ResNet-18, ANN floor vs every backend
#      (vs SpikingJelly if installed), T = 1 and 6, images/s, activation memory and allocator
#      peak, an MTT iteration vs the sum of its passes; in bf16 + channels_last and in the
#      paper's fp16 AMP at its CIFAR batch of 256;
#   3. the quickstart run (MTT, narrow ResNet-19, MNIST pack) in fp32 and in bf16 +
#      channels_last: their test accuracies at T = 1..6 side by side.
# Everything goes under $OUT (default gpu_check/). Packs: $TFSNN_PACKS (default ../shared/data).
#   bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu_check}
packs=${TFSNN_PACKS:-../shared/data}
mkdir -p "$out"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device: this script checks the GPU path'"
{ nvidia-smi; python -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__)"; } > "$out/device.txt"

python -m pytest -q -rs tests/test_neuron.py 2>&1 | tee "$out/pytest_neuron.txt"

python benchmarks/step_time.py --device cuda --precision bf16 --channels-last --T 1 6 --rounds 20 --batch 64 \
    --memory --out "$out/step_time_bf16_nhwc.csv" --plot "$out/step_time_bf16_nhwc.png" 2>&1 | tee "$out/step_time_bf16_nhwc.txt"
python benchmarks/step_time.py --device cuda --precision fp16 --T 6 --rounds 20 --batch 256 \
    --out "$out/step_time_fp16_b256.csv" 2>&1 | tee "$out/step_time_fp16_b256.txt"

for run in "fp32 0" "bf16 1"; do
    set -- $run
    TFSNN_CHANNELS_LAST="$2" tfsnn train --config config/quickstart.yaml --out "$out/quickstart-$1" --device cuda \
        --no-progress --set data.pack_dir="$packs" --set train.precision="$1" 2>&1 | tee "$out/quickstart-$1.txt"
done
