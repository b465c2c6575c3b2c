# Issue 14's table: MQAR at zoology's smallest setting (vocab 8192, T=64,
# 4 pairs, width 64) with five times zoo.sl's budget -- 3,000 steps at
# batch 32 instead of 600 -- for the softmax GPT (RoPE) and Griffin (one
# RG-LRU block under local attention), to see whether the 0.000 of the
# table is the budget. AdamW lr 3e-3, cosine with 100 warm-up steps.
# Run:  seqlab -f sessions/zoo-mqar.sl > zoo-mqar.out   (about 8 minutes on
# 2 threads). Results: sessions/zoo.md, "The table".
set seed=0 threads=2
task mqar vocab=8192 L=64 pairs=4
model q64_gpt = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2
optim q64_gpt batch=32 lr=3e-3 steps=3000
train q64_gpt 3000 steps eval=500 max=7m
model q64_griffin = griffin hidden=64 pattern=RA mlp=2 heads=2 window=64
optim q64_griffin batch=32 lr=3e-3 steps=3000
train q64_griffin 3000 steps eval=500 max=7m
runs
