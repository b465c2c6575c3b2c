# The thesis's comparison at the same wall-clock budget (issue 16): the six
# language models of sessions/charlm.sl (gpt, mamba, hawk, lru, s4d, lstm,
# each within 15 % of the gpt's 816,193 parameters) on Tiny Shakespeare,
# each given two minutes of training on 2 threads. Each model's step count
# is what it trains in 120 s at the tokens/s measured for it on a quiet
# machine (sessions/charlm.md: lru 35,300, gpt 30,700, hawk 23,300, lstm
# 12,900, s4d 10,000, mamba 9,000 tokens/s; 768 tokens a step; times 0.97
# for margin), so every cosine schedule ends inside the budget, and max=125s eval=100000
# stops a model that runs slower than that. nanoGPT's AdamW recipe (lr 1e-3,
# 100 warm-up steps, cosine to 1e-4, beta2 0.99, weight decay 0.1, clip 1);
# one evaluation at the end of each run, over the first 32,768 validation
# characters. About 14 minutes; run it on a quiet machine, from the
# project's top directory:
#   seqlab -f sessions/charlm-time.sl
set seed=1337 threads=2
task charlm file=../shared/data/tinyshakespeare.txt ctx=64 batches=100 eval=32768
model gpt = gpt layers=4 heads=4 hidden=128 mlp=4 pe=learned dropout=0
model mamba = mamba layers=4 hidden=176
model hawk = hawk layers=4 hidden=128
model lru = lru layers=4 hidden=208 state=128
model s4d = s4d layers=4 hidden=272 state=64
model lstm = lstm layers=4 hidden=160
optim gpt adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=4650 warmup=100 min_lr=1e-4
optim mamba adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=1360 warmup=100 min_lr=1e-4
optim hawk adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=3530 warmup=100 min_lr=1e-4
optim lru adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=5350 warmup=100 min_lr=1e-4
optim s4d adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=1515 warmup=100 min_lr=1e-4
optim lstm adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=1950 warmup=100 min_lr=1e-4
train gpt 4650 steps max=125s eval=100000
train mamba 1360 steps max=125s eval=100000
train hawk 3530 steps max=125s eval=100000
train lru 5350 steps max=125s eval=100000
train s4d 1515 steps max=125s eval=100000
train lstm 1950 steps max=125s eval=100000
runs
sample gpt n=200 temp=0.8 seed=0
sample mamba n=200 temp=0.8 seed=0
sample hawk n=200 temp=0.8 seed=0
sample lru n=200 temp=0.8 seed=0
sample s4d n=200 temp=0.8 seed=0
sample lstm n=200 temp=0.8 seed=0
