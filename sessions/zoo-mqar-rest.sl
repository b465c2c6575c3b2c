# Issue 14's table: MQAR at zoology's smallest setting (vocab 8192, T=64,
# 4 pairs, width 64) at zoo-mqar.sl's budget -- 3,000 steps at batch 32,
# five times zoo.sl's -- for the five models zoo-mqar.sl leaves out: S4D,
# the LRU, Mamba, Hawk and the GPT with linear attention (RoPE), each as
# zoo.sl defines it. AdamW lr 3e-3, cosine with 100 warm-up steps.
# Run:  seqlab -f sessions/zoo-mqar-rest.sl > zoo-mqar-rest.out   (max=25m
# guards each run on a loaded machine). Results: sessions/zoo.md, "The table".
set seed=0 threads=2
task mqar vocab=8192 L=64 pairs=4
model q64_s4d = s4d hidden=64 layers=2 state=32
optim q64_s4d batch=32 lr=3e-3 steps=3000
train q64_s4d 3000 steps eval=500 max=25m
model q64_lru = lru hidden=64 layers=2 state=64 r_min=0.9 r_max=0.999
optim q64_lru batch=32 lr=3e-3 steps=3000
train q64_lru 3000 steps eval=500 max=25m
model q64_mamba = mamba hidden=64 layers=2
optim q64_mamba batch=32 lr=3e-3 steps=3000
train q64_mamba 3000 steps eval=500 max=25m
model q64_hawk = hawk hidden=64 layers=2 mlp=2
optim q64_hawk batch=32 lr=3e-3 steps=3000
train q64_hawk 3000 steps eval=500 max=25m
model q64_lin = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2 attn=linear
optim q64_lin batch=32 lr=3e-3 steps=3000
train q64_lin 3000 steps eval=500 max=25m
runs
