# Associative recall, Problem 3 (seed 004, HW4): Mamba only, with the wider
# fixed embedding d = 64 (model width 64): K=16, L=64, tau=1 and M = 4, 8,
# 16 (compare with Problem 2's d = 8), then M=16 with the delay tau=10.
# Same training as Problems 1 and 2 (batch 64, AdamW lr 1e-2, cosine over
# 10,000 steps, test accuracy every 250 steps).
# Run:  seqlab -f sessions/recall-p3.sl > recall-p3.out   (about an hour on 2 cores)
set seed=0 threads=2

task recall K=16 d=64 M=4 L=64 tau=1
model d64_m4 = mamba layers=2 hidden=64
optim d64_m4 lr=1e-2 steps=10000
train d64_m4 10000 steps eval=250
eval d64_m4 lengths=4..192 step=4

task recall K=16 d=64 M=8 L=64 tau=1
model d64_m8 = mamba layers=2 hidden=64
optim d64_m8 lr=1e-2 steps=10000
train d64_m8 10000 steps eval=250
eval d64_m8 lengths=4..192 step=4

task recall K=16 d=64 M=16 L=64 tau=1
model d64_m16 = mamba layers=2 hidden=64
optim d64_m16 lr=1e-2 steps=10000
train d64_m16 10000 steps eval=250
eval d64_m16 lengths=4..192 step=4

# --- M = 16 with the delay tau = 10 ----------------------------------------------------
task recall K=16 d=64 M=16 L=64 tau=10
model d64_m16_t10 = mamba layers=2 hidden=64
optim d64_m16_t10 lr=1e-2 steps=10000
train d64_m16_t10 10000 steps eval=250
eval d64_m16_t10 lengths=12..192 step=4
plot d64_m4 d64_m8 d64_m16 d64_m16_t10 val_acc
runs
