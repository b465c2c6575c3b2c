# Length generalisation on induction heads (seed 004, Problem 1 (a); the
# Mamba paper's Table 2 question, at the homework's scale): K=16, d=8 fixed
# embeddings, M=1, tau=1, trained at L=64, tested on fresh sequences at every
# length up to 3L = 192. The attention-only 2-layer Transformer with learned
# positions, the same with RoPE, and 2-layer Mamba, 10,000 steps each (the
# homework's budget; AdamW lr 1e-2, cosine), batch 64: part (a) of
# recall-p1.sl with three of its six models, about 6 minutes on 2 cores.
# Run:  seqlab -f sessions/recall-lengths.sl > recall-lengths.out
# Results and commentary: sessions/recall-lengths.md.
set seed=0 threads=2
task recall K=16 d=8 M=1 L=64 tau=1
model learned = gpt layers=2 mlp=0 hidden=8 heads=1 pe=learned
model rope = gpt layers=2 mlp=0 hidden=8 heads=1 pe=rope
model mamba = mamba layers=2 hidden=8
optim learned lr=1e-2 steps=10000
optim rope lr=1e-2 steps=10000
optim mamba lr=1e-2 steps=10000
train learned 10000 steps eval=1000
train rope 10000 steps eval=1000
train mamba 10000 steps eval=1000
# accuracy against length: 64 = L, 128 = 2L, 192 = 3L
eval learned lengths=16..192 step=16
eval rope lengths=16..192 step=16
eval mamba lengths=16..192 step=16
runs
