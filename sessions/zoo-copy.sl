# The seeds' first claim about the zoo (seeds 002/003, the Mamba paper's
# figure 2): a linear time-invariant model (S4D, and the LRU, whose recurrence
# does not depend on the input) cannot do selective copying, which needs the
# model to decide per input what to keep; the selective ones (Mamba, the
# RG-LRU's gates) and attention can. Small scale, for a laptop: 8 data tokens
# of 8 scattered over 64 positions, 2 layers of width 64 (32 for gpt), 3,000
# steps at batch 32 (AdamW lr 3e-3, cosine), then accuracy on the fixed test
# set (the fraction of marker positions where the right token comes out).
# Run:  seqlab -f sessions/zoo-copy.sl > zoo-copy.out      (about 15 minutes)
# Results and commentary: sessions/zoo.md.
set seed=0 threads=2
task copy L=64 N=8 A=8
model s4d = s4d hidden=64 layers=2 state=32
model lru = lru hidden=64 layers=2 state=64 r_min=0.9 r_max=0.999
model mamba = mamba hidden=64 layers=2
model hawk = hawk hidden=64 layers=2 mlp=2
model gpt = gpt hidden=32 layers=2 heads=2 pe=rope mlp=2
model griffin = griffin hidden=64 pattern=RA mlp=2 heads=2 window=64
model lin = gpt hidden=32 layers=2 heads=2 pe=rope mlp=2 attn=linear
optim s4d batch=32 lr=3e-3 steps=3000
optim lru batch=32 lr=3e-3 steps=3000
optim mamba batch=32 lr=3e-3 steps=3000
optim hawk batch=32 lr=3e-3 steps=3000
optim gpt batch=32 lr=3e-3 steps=3000
optim griffin batch=32 lr=3e-3 steps=3000
optim lin batch=32 lr=3e-3 steps=3000
train s4d 3000 steps eval=1000
train lru 3000 steps eval=1000
train mamba 3000 steps eval=1000
train hawk 3000 steps eval=1000
train gpt 3000 steps eval=1000
train griffin 3000 steps eval=1000
train lin 3000 steps eval=1000
runs
