# Associative recall, Problem 1 (seed 004, HW3): induction heads (M=1) with
# K=16, d=8 (numpy's seed-0 unit-norm embedding, fixed), trained at L=64 and
# evaluated at every length from tau+2 to 3L = 192 on fresh sequences.
# Six models: the 2-layer attention-only Transformer with learned positions,
# RoPE and no positions; 2-layer Mamba; the hybrids MA (a Mamba layer, then
# attention) and MAM, without positions. Batch 64 (the default), AdamW lr 1e-2
# with a cosine schedule over 10,000 steps; the test-batch accuracy every 250
# steps is the convergence record (the train lines and `plot ... val_acc`).
# Run:  seqlab -f sessions/recall-p1.sl > recall-p1.out   (about an hour on 2 cores)
set seed=0 threads=2

# --- (a) tau = 1 ---------------------------------------------------------------
task recall K=16 d=8 M=1 L=64 tau=1
model p1_learned = gpt layers=2 mlp=0 hidden=8 heads=1 pe=learned
model p1_rope = gpt layers=2 mlp=0 hidden=8 heads=1 pe=rope
model p1_nope = gpt layers=2 mlp=0 hidden=8 heads=1 pe=none
model p1_mamba = mamba layers=2 hidden=8
model p1_ma = hybrid pattern=MA hidden=8 heads=1
model p1_mam = hybrid pattern=MAM hidden=8 heads=1
optim p1_learned lr=1e-2 steps=10000
optim p1_rope lr=1e-2 steps=10000
optim p1_nope lr=1e-2 steps=10000
optim p1_mamba lr=1e-2 steps=10000
optim p1_ma lr=1e-2 steps=10000
optim p1_mam lr=1e-2 steps=10000
train p1_learned 10000 steps eval=250
train p1_rope 10000 steps eval=250
train p1_nope 10000 steps eval=250
train p1_mamba 10000 steps eval=250
train p1_ma 10000 steps eval=250
train p1_mam 10000 steps eval=250
# accuracy against length (the figure; 64 = L, 128 = 2L, 192 = 3L)
eval p1_learned lengths=3..192
eval p1_rope lengths=3..192
eval p1_nope lengths=3..192
eval p1_mamba lengths=3..192
eval p1_ma lengths=3..192
eval p1_mam lengths=3..192
# convergence: test-batch accuracy against iterations
plot p1_learned p1_rope p1_nope p1_mamba p1_ma p1_mam val_acc

# --- (b) tau = 5 ---------------------------------------------------------------
task recall K=16 d=8 M=1 L=64 tau=5
model p1d_learned = gpt layers=2 mlp=0 hidden=8 heads=1 pe=learned
model p1d_rope = gpt layers=2 mlp=0 hidden=8 heads=1 pe=rope
model p1d_nope = gpt layers=2 mlp=0 hidden=8 heads=1 pe=none
model p1d_mamba = mamba layers=2 hidden=8
model p1d_ma = hybrid pattern=MA hidden=8 heads=1
model p1d_mam = hybrid pattern=MAM hidden=8 heads=1
optim p1d_learned lr=1e-2 steps=10000
optim p1d_rope lr=1e-2 steps=10000
optim p1d_nope lr=1e-2 steps=10000
optim p1d_mamba lr=1e-2 steps=10000
optim p1d_ma lr=1e-2 steps=10000
optim p1d_mam lr=1e-2 steps=10000
train p1d_learned 10000 steps eval=250
train p1d_rope 10000 steps eval=250
train p1d_nope 10000 steps eval=250
train p1d_mamba 10000 steps eval=250
train p1d_ma 10000 steps eval=250
train p1d_mam 10000 steps eval=250
eval p1d_learned lengths=7..192
eval p1d_rope lengths=7..192
eval p1d_nope lengths=7..192
eval p1d_mamba lengths=7..192
eval p1d_ma lengths=7..192
eval p1d_mam lengths=7..192
plot p1d_learned p1d_rope p1d_nope p1d_mamba p1d_ma p1d_mam val_acc
runs
