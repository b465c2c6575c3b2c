# Gradient flow and length (issue 15, seed 002's lecture): an Elman RNN's
# gradient vanishes with distance, so it stops learning a dependency that an
# LSTM's or GRU's gates, or Mamba's selective state, carry. The sweep: the
# copy task (4 data tokens of 8 scattered over a region of L positions, then
# 4 markers: the model must hold each token from where it appears to the
# end) at L = 4, 8, 16, 32, 64, 128, 256, with one block of width 32 of each kind
# (elman, gru, lstm, mamba), 2,000 steps at batch 32 (AdamW lr 3e-3,
# cosine), one thread. Then the gradient each untrained and trained model
# passes back over 64 positions: `gradflow RUN` prints |d loss / d x_t| per
# position (grad_first= is the first position's, grad_last= the loss's
# own) and the state's Jacobian across time (jac_first=);
# `heatmap save FILE.png` after it writes the heatmaps through gnuplot.
# Run:  nice seqlab -f sessions/gradflow.sl > gradflow.out    (about 8 minutes of CPU)
# Results and commentary: sessions/zoo.md ("Gradient flow and length").
set seed=0 threads=1
# before training, at L=64: how far back the gradient reaches
task copy L=64 N=4 A=8
model ue = elman hidden=32 layers=1
model ug = gru hidden=32 layers=1
model ul = lstm hidden=32 layers=1
model um = mamba hidden=32 layers=1
gradflow ue
gradflow ug
gradflow ul
gradflow um
# L=4
task copy L=4 N=4 A=8
model e4 = elman hidden=32 layers=1
model g4 = gru hidden=32 layers=1
model l4 = lstm hidden=32 layers=1
model m4 = mamba hidden=32 layers=1
optim e4 batch=32 lr=3e-3 steps=2000
optim g4 batch=32 lr=3e-3 steps=2000
optim l4 batch=32 lr=3e-3 steps=2000
optim m4 batch=32 lr=3e-3 steps=2000
train e4 2000 steps eval=1000
train g4 2000 steps eval=1000
train l4 2000 steps eval=1000
train m4 2000 steps eval=1000
# L=8
task copy L=8 N=4 A=8
model e8 = elman hidden=32 layers=1
model g8 = gru hidden=32 layers=1
model l8 = lstm hidden=32 layers=1
model m8 = mamba hidden=32 layers=1
optim e8 batch=32 lr=3e-3 steps=2000
optim g8 batch=32 lr=3e-3 steps=2000
optim l8 batch=32 lr=3e-3 steps=2000
optim m8 batch=32 lr=3e-3 steps=2000
train e8 2000 steps eval=1000
train g8 2000 steps eval=1000
train l8 2000 steps eval=1000
train m8 2000 steps eval=1000
# L=16
task copy L=16 N=4 A=8
model e16 = elman hidden=32 layers=1
model g16 = gru hidden=32 layers=1
model l16 = lstm hidden=32 layers=1
model m16 = mamba hidden=32 layers=1
optim e16 batch=32 lr=3e-3 steps=2000
optim g16 batch=32 lr=3e-3 steps=2000
optim l16 batch=32 lr=3e-3 steps=2000
optim m16 batch=32 lr=3e-3 steps=2000
train e16 2000 steps eval=1000
train g16 2000 steps eval=1000
train l16 2000 steps eval=1000
train m16 2000 steps eval=1000
# L=32
task copy L=32 N=4 A=8
model e32 = elman hidden=32 layers=1
model g32 = gru hidden=32 layers=1
model l32 = lstm hidden=32 layers=1
model m32 = mamba hidden=32 layers=1
optim e32 batch=32 lr=3e-3 steps=2000
optim g32 batch=32 lr=3e-3 steps=2000
optim l32 batch=32 lr=3e-3 steps=2000
optim m32 batch=32 lr=3e-3 steps=2000
train e32 2000 steps eval=1000
train g32 2000 steps eval=1000
train l32 2000 steps eval=1000
train m32 2000 steps eval=1000
# L=64
task copy L=64 N=4 A=8
model e64 = elman hidden=32 layers=1
model g64 = gru hidden=32 layers=1
model l64 = lstm hidden=32 layers=1
model m64 = mamba hidden=32 layers=1
optim e64 batch=32 lr=3e-3 steps=2000
optim g64 batch=32 lr=3e-3 steps=2000
optim l64 batch=32 lr=3e-3 steps=2000
optim m64 batch=32 lr=3e-3 steps=2000
train e64 2000 steps eval=1000
train g64 2000 steps eval=1000
train l64 2000 steps eval=1000
train m64 2000 steps eval=1000
# L=128
task copy L=128 N=4 A=8
model e128 = elman hidden=32 layers=1
model g128 = gru hidden=32 layers=1
model l128 = lstm hidden=32 layers=1
model m128 = mamba hidden=32 layers=1
optim e128 batch=32 lr=3e-3 steps=2000
optim g128 batch=32 lr=3e-3 steps=2000
optim l128 batch=32 lr=3e-3 steps=2000
optim m128 batch=32 lr=3e-3 steps=2000
train e128 2000 steps eval=1000
train g128 2000 steps eval=1000
train l128 2000 steps eval=1000
train m128 2000 steps eval=1000
# L=256
task copy L=256 N=4 A=8
model e256 = elman hidden=32 layers=1
model g256 = gru hidden=32 layers=1
model l256 = lstm hidden=32 layers=1
model m256 = mamba hidden=32 layers=1
optim e256 batch=32 lr=3e-3 steps=2000
optim g256 batch=32 lr=3e-3 steps=2000
optim l256 batch=32 lr=3e-3 steps=2000
optim m256 batch=32 lr=3e-3 steps=2000
train e256 2000 steps eval=1000
train g256 2000 steps eval=1000
train l256 2000 steps eval=1000
train m256 2000 steps eval=1000
# after training, at L=64
gradflow e64
gradflow g64
gradflow l64
gradflow m64
runs
