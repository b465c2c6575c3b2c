# The thesis's comparison (seed 003, issue 16): six language models of about
# the same size on Tiny Shakespeare -- gpt, mamba, hawk, lru, s4d and lstm,
# each within 15 % of the gpt's 816,193 parameters (nanoGPT's CPU model:
# 4 layers, 4 heads, 128 wide) -- trained with the same recipe for the same
# number of steps, then a 200-character sample of each.
# The issue asks for the same wall-clock budget; this script gives every
# model the same steps (600 at batch 12, nanoGPT's AdamW recipe with the
# cosine schedule shortened to 600 steps), so its runs can be compared on a
# shared machine: `runs` prints each one's training time (train_s) and
# `train`'s last line its words_s, the figures to measure on a quiet one.
# About 15-17 minutes on one thread. Run from the project's top directory:
#   seqlab -f sessions/charlm.sl
set seed=1337 threads=1
task charlm file=../shared/data/tinyshakespeare.txt ctx=64 batches=100 eval=32768
model gpt = gpt layers=4 heads=4 hidden=128 mlp=4 pe=learned dropout=0
model mamba = mamba layers=4 hidden=176
model hawk = hawk layers=4 hidden=128
model lru = lru layers=4 hidden=208 state=128
model s4d = s4d layers=4 hidden=272 state=64
model lstm = lstm layers=4 hidden=160
optim gpt adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=600 warmup=60 min_lr=1e-4
optim mamba adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=600 warmup=60 min_lr=1e-4
optim hawk adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=600 warmup=60 min_lr=1e-4
optim lru adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=600 warmup=60 min_lr=1e-4
optim s4d adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=600 warmup=60 min_lr=1e-4
optim lstm adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=600 warmup=60 min_lr=1e-4
train gpt 600 steps eval=300
train mamba 600 steps eval=300
train hawk 600 steps eval=300
train lru 600 steps eval=300
train s4d 600 steps eval=300
train lstm 600 steps eval=300
runs
sample gpt n=200 temp=0.8 seed=0
sample mamba n=200 temp=0.8 seed=0
sample hawk n=200 temp=0.8 seed=0
sample lru n=200 temp=0.8 seed=0
sample s4d n=200 temp=0.8 seed=0
sample lstm n=200 temp=0.8 seed=0
