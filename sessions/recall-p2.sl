# Associative recall, Problem 2 (seed 004, HW4): K=16, d=8 (fixed), L=64,
# tau=1, with M = 4, 8, 16 queries (16 = recall of any token) for Mamba, the
# RoPE Transformer (2 attention layers, no MLP) and the hybrids MA and MAM.
# Same training as Problem 1 (batch 64, AdamW lr 1e-2, cosine over 10,000
# steps, test accuracy every 250 steps); accuracy against length every 4th
# length up to 3L = 192.
# Run:  seqlab -f sessions/recall-p2.sl > recall-p2.out   (about an hour and a half on 2 cores)
set seed=0 threads=2

# --- M = 4 -----------------------------------------------------------------------
task recall K=16 d=8 M=4 L=64 tau=1
model m4_mamba = mamba layers=2 hidden=8
model m4_rope = gpt layers=2 mlp=0 hidden=8 heads=1 pe=rope
model m4_ma = hybrid pattern=MA hidden=8 heads=1
model m4_mam = hybrid pattern=MAM hidden=8 heads=1
optim m4_mamba lr=1e-2 steps=10000
optim m4_rope lr=1e-2 steps=10000
optim m4_ma lr=1e-2 steps=10000
optim m4_mam lr=1e-2 steps=10000
train m4_mamba 10000 steps eval=250
train m4_rope 10000 steps eval=250
train m4_ma 10000 steps eval=250
train m4_mam 10000 steps eval=250
eval m4_mamba lengths=4..192 step=4
eval m4_rope lengths=4..192 step=4
eval m4_ma lengths=4..192 step=4
eval m4_mam lengths=4..192 step=4

# --- M = 8 -----------------------------------------------------------------------
task recall K=16 d=8 M=8 L=64 tau=1
model m8_mamba = mamba layers=2 hidden=8
model m8_rope = gpt layers=2 mlp=0 hidden=8 heads=1 pe=rope
model m8_ma = hybrid pattern=MA hidden=8 heads=1
model m8_mam = hybrid pattern=MAM hidden=8 heads=1
optim m8_mamba lr=1e-2 steps=10000
optim m8_rope lr=1e-2 steps=10000
optim m8_ma lr=1e-2 steps=10000
optim m8_mam lr=1e-2 steps=10000
train m8_mamba 10000 steps eval=250
train m8_rope 10000 steps eval=250
train m8_ma 10000 steps eval=250
train m8_mam 10000 steps eval=250
eval m8_mamba lengths=4..192 step=4
eval m8_rope lengths=4..192 step=4
eval m8_ma lengths=4..192 step=4
eval m8_mam lengths=4..192 step=4

# --- M = 16: full associative recall ------------------------------------------------
task recall K=16 d=8 M=16 L=64 tau=1
model m16_mamba = mamba layers=2 hidden=8
model m16_rope = gpt layers=2 mlp=0 hidden=8 heads=1 pe=rope
model m16_ma = hybrid pattern=MA hidden=8 heads=1
model m16_mam = hybrid pattern=MAM hidden=8 heads=1
optim m16_mamba lr=1e-2 steps=10000
optim m16_rope lr=1e-2 steps=10000
optim m16_ma lr=1e-2 steps=10000
optim m16_mam lr=1e-2 steps=10000
train m16_mamba 10000 steps eval=250
train m16_rope 10000 steps eval=250
train m16_ma 10000 steps eval=250
train m16_mam 10000 steps eval=250
eval m16_mamba lengths=4..192 step=4
eval m16_rope lengths=4..192 step=4
eval m16_ma lengths=4..192 step=4
eval m16_mam lengths=4..192 step=4
plot m4_mamba m8_mamba m16_mamba m4_rope m8_rope m16_rope m4_ma m8_ma m16_ma val_acc
runs
