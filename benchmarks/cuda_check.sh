#!/usr/bin/env bash
# One GPU check for bnref.torch, for a lent CUDA machine (run from the repository root):
#
#     OUT=/some/empty/dir bash benchmarks/cuda_check.sh
#
# 1. the CUDA-marked tests of bnref.torch (`pytest -m cuda`, bnref's torch test files only),
# 2. the CUDA benchmark: bnref.torch vs F.batch_norm (cuDNN) at (256, 64, 56, 56), float32
#    and bfloat16: forward (train), forward (eval), forward+backward (train); medians of
#    CUDA-event timings per call and device-only (queued behind a spin kernel), ratios,
#    host time per call on a tiny input, and a check that bnref's calls never synchronize
#    the host with the device (see benchmarks/bench_bn_torch.py).
#
# It uses whatever torch the machine has (python3, or $PYTHON) and installs nothing;
# bnref is imported from the working tree (PYTHONPATH=.). Everything it writes goes to
# "$OUT" (flat): env.txt, pytest.txt, pytest.xml, bench.txt, bench.json, summary.txt.
# Time limits: tests 150 s, benchmark 120 s; the whole script stays under 5 minutes (the
# last runs took about 10 s of tests and 30 s of benchmark). summary.txt, printed at the
# end, holds the test counts and the benchmark tables.
set -u -o pipefail

OUT="${OUT:-/tmp/bnref_cuda_check}"
mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)"
PY="${PYTHON:-python3}"
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
cd "$(dirname "$0")/.." || exit 2

{
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  "$PY" - <<'EOF'
import sys, torch
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version(), "available", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name())
import numpy, bnref.torch
print("numpy", numpy.__version__, "bnref.torch imported from", bnref.torch.__file__)
EOF
} > "$OUT/env.txt" 2>&1
env_rc=$?

# pytest: only bnref's torch test files (other test modules need the course's own venv);
# -o addopts= drops the project's addopts, -p no:cacheprovider keeps the tree clean.
tests=()
for f in tests/test_torch.py tests/test_torch_peer.py tests/test_torch_tools.py tests/test_sync_bn.py; do
  [ -f "$f" ] && tests+=("$f")
done
timeout 150 "$PY" -m pytest -m cuda -q -rA -p no:cacheprovider -o addopts= \
  --continue-on-collection-errors \
  --junitxml="$OUT/pytest.xml" "${tests[@]}" > "$OUT/pytest.txt" 2>&1
test_rc=$?

timeout 120 "$PY" benchmarks/bench_bn_torch.py --device cuda --json "$OUT/bench.json" \
  > "$OUT/bench.txt" 2>&1
bench_rc=$?

{
  echo "env rc=$env_rc, pytest -m cuda rc=$test_rc (124 = timed out), bench rc=$bench_rc"
  grep -E "^(FAILED|ERROR)" "$OUT/pytest.txt" | head -n 20
  tail -n 1 "$OUT/pytest.txt"
  cat "$OUT/bench.txt"
} > "$OUT/summary.txt" 2>&1
cat "$OUT/summary.txt"
[ "$test_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
