#!/bin/bash
# What one session on a lent GPU ran (the device tool, benchmarks/README.md): the
# environment, the CUDA tests, the harness, the kernel sweep and a profile of the host's
# share of a call, each under its own time limit, everything written to $OUT. The
# stages and their arguments come from the environment, e.g.
#   T_BENCH=110 BENCH_ARGS="--convention torch --layout NCHW,NHWC" NO_PROFILE=1 \
#   SWEEP_ARGS="--rounds 3 --min-ms 1" OUT=/tmp/out bash benchmarks/gpu_session.sh
cd "$(dirname "$0")/.." || exit
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src
{
  date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,memory.total --format=csv
  python3 -c "import torch, triton, numpy; print('torch', torch.__version__, 'triton', triton.__version__, 'numpy', numpy.__version__)"
} 2>&1 | tee $OUT/env.txt
echo "== tests"; timeout ${T_TESTS:-150} python3 -m pytest -q -p no:cacheprovider -o addopts="" \
  tests/test_gpu_kernels.py tests/test_torch.py -k cuda -ra 2>&1 | tail -40 | tee $OUT/tests.txt
echo "== harness"; [ -n "$NO_BENCH" ] || timeout ${T_BENCH:-180} python3 benchmarks/run.py --device cuda --size large ${BENCH_ARGS} \
  --skip onnxruntime,tensorflow --output-dir $OUT/bench 2>&1 | tee $OUT/bench.log | tail -${BENCH_TAIL:-8}
echo "== sweep"; [ -n "$NO_SWEEP" ] || timeout ${T_SWEEP:-180} python3 benchmarks/gpu_sweep.py ${SWEEP_ARGS} --json $OUT/sweep.json 2>&1 | tee $OUT/sweep.md | tail -${SWEEP_TAIL:-8}
echo "== profile"; [ -n "$NO_PROFILE" ] || timeout 90 python3 - <<'PY' 2>&1 | tee $OUT/profile.txt | tail -${PROFILE_TAIL:-30}
import cProfile, pstats, time, torch, pixelshuffle as ps
from pixelshuffle import _kernels
gpu = _kernels.gpu_kernels()
x = torch.randn(4, 12, 768, 1024, device="cuda")
out = ps.pixel_shuffle(x, 2)
for direct in (True, False):
    gpu._DIRECT_LAUNCH = direct
    for _ in range(5): ps.pixel_shuffle(x, 2, out=out)
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(200): ps.pixel_shuffle(x, 2, out=out)
    host = (time.perf_counter() - t) / 200 * 1e6
    torch.cuda.synchronize()
    print(f"direct={direct}: {host:.1f} us host per out= call, {(time.perf_counter() - t) / 200 * 1e6:.1f} us with the GPU")
gpu._DIRECT_LAUNCH = False
cProfile.run("for _ in range(300): ps.pixel_shuffle(x, 2, out=out)", "/tmp/prof")
pstats.Stats("/tmp/prof").sort_stats("tottime").print_stats(22)
PY
echo "== done"; date -u
