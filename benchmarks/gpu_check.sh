#!/usr/bin/env bash
# The GPU check (at most 8 minutes on one GPU): the tests that take a device, on CUDA, then one
# timed epoch of every method at the paper profile with the projected paper-profile wall time.
#   bash benchmarks/gpu_check.sh            (from the repository root, torch with CUDA installed)
set -uo pipefail
cd "$(dirname "$0")/.."
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: nothing to check')" || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
echo "== tests on cuda (the conformance battery) =="
timeout 240 python -m pytest -q -x --device cuda tests/test_conformance.py
status=$?
echo "== one epoch of every method at the paper profile =="
timeout 200 python benchmarks/epoch_timing.py --device cuda --profile paper --cap 15
exit $(( status || $? ))
