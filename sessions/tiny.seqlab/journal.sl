# seqlab journal 1
# seqlab 0.1.0, seed 0, threads 2, started 2026-11-23 20:45:59 UTC
set seed=0 threads=2
set seed=0 threads=1
task piglatin size=200 seed=0
model tiny = transformer hidden=16 heads=2 enc=1 dec=1 mlp=2
optim tiny adamw lr=1e-2 batch=16 steps=300 warmup=20
train tiny 300 steps eval=100
# end of journal: 6 commands, fnv1a64 397c2ba527430ec5
