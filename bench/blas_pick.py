#!/usr/bin/env python3
"""blas_pick.py - the fastest correct OpenBLAS kernels for this machine, for
the PyTorch side of the benchmark (bench/run.sh).

Debian 12's OpenBLAS 0.3.21 does not recognise some newer processors and
falls back to its generic Prescott (SSE3) kernels, which makes numpy's and
PyTorch's matrix products 4-5x slower than the machine allows. This script
asks OpenBLAS which kernels it chose; if that is a fallback, it tries the
candidates the CPU's features allow (OPENBLAS_CORETYPE, each in a fresh
process), checks each against a float64 product, times each on float32
products of the benchmark's sizes through PyTorch, and prints

    core=NAME chosen=auto|forced default=NAME gflops=X  [tried=NAME:gflops:ok,...]

where core is the kernels to use (run.sh exports OPENBLAS_CORETYPE=core for
the PyTorch side when chosen=forced).
"""
import json
import os
import subprocess
import sys

PROBE = r"""
import ctypes, ctypes.util, json, time, numpy as np, torch
torch.set_num_threads(int(__import__('os').environ.get('PICK_THREADS', '1')))
name = None
for lib in (ctypes.util.find_library('openblas'), 'libopenblas.so.0', 'libopenblasp.so.0'):
    try:
        f = ctypes.CDLL(lib).openblas_get_corename
        f.restype = ctypes.c_char_p
        name = f().decode()
        break
    except Exception:
        pass
rng = np.random.default_rng(0)
a = rng.standard_normal((512, 256)).astype(np.float32)
b = rng.standard_normal((256, 384)).astype(np.float32)
ref = a.astype(np.float64) @ b.astype(np.float64)
got = (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()
err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
ta, tb = torch.randn(4096, 128), torch.randn(128, 512)
best = 1e9
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(10):
        ta @ tb
    best = min(best, (time.perf_counter() - t0) / 10)
print(json.dumps({'core': name, 'err': err, 'gflops': 2 * 4096 * 128 * 512 / best / 1e9}))
"""

FALLBACKS = {'Prescott', 'Core2', 'Penryn', 'Dunnington', 'Nehalem', 'Katmai', 'Coppermine', 'Northwood', 'Banias'}


def probe(core):
    env = dict(os.environ)
    env.pop('OPENBLAS_CORETYPE', None)
    env.pop('OPENBLAS_L2_SIZE', None)
    if core:
        env['OPENBLAS_CORETYPE'] = core
    out = subprocess.run([sys.executable, '-c', PROBE], env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def candidates():
    flags = set()
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('flags'):
                flags = set(line.split(':', 1)[1].split())
                break
    c = []
    if 'avx512f' in flags:
        c += ['Cooperlake', 'SkylakeX']
    if 'avx2' in flags:
        c += ['Haswell', 'Zen']
    if 'avx' in flags:
        c += ['Sandybridge']
    return c


def main():
    base = probe(None)
    if base is None:
        print('core=unknown chosen=auto default=unknown gflops=0')
        return
    if base['core'] not in FALLBACKS:
        print('core=%s chosen=auto default=%s gflops=%.1f' % (base['core'], base['core'], base['gflops']))
        return
    best, tried = (base['core'], base['gflops']), []
    for c in candidates():
        r = probe(c)
        if r is None:
            tried.append('%s:failed' % c)
            continue
        ok = r['err'] < 1e-4 and r['core'] is not None
        tried.append('%s:%.1f:%s' % (r['core'], r['gflops'], 'ok' if ok else 'wrong'))
        if ok and r['gflops'] > best[1]:
            best = (c, r['gflops'])
    chosen = 'forced' if best[0] != base['core'] else 'auto'
    print('core=%s chosen=%s default=%s gflops=%.1f tried=%s' % (best[0], chosen, base['core'], best[1], ','.join(tried)))


if __name__ == '__main__':
    main()
