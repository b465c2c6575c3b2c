# Pig-Latin with the recurrent encoder-decoder and additive (Bahdanau)
# attention: the original assignment's model (seed 002; the CSC413 PA3
# handout, the PyTorch translation tutorial), GRU and LSTM cells, against
# the Transformer (piglatin-transformer.sl) and Mamba (piglatin-mamba.sl)
# on the same protocol: 30 epochs of the small set, 15 of the large one,
# the default optimizer (AdamW lr 3e-3, wd 0.01, clip 1, batch 64, cosine
# over the run with 100 warmup steps).
# Run:  seqlab -f sessions/rnn-piglatin.sl > out.txt
# Results: sessions/zoo.md ("Pig-Latin: recurrent encoder-decoders").
set seed=0 threads=2

# --- GRU and LSTM with additive attention, hidden 64, small and large -------
task piglatin size=small
model gru_s = rnn cell=gru attn=additive hidden=64
optim gru_s epochs=30
train gru_s 30 epochs
model lstm_s = rnn cell=lstm attn=additive hidden=64
optim lstm_s epochs=30
train lstm_s 30 epochs
task piglatin size=large
model gru_l = rnn cell=gru attn=additive hidden=64
optim gru_l epochs=15
train gru_l 15 epochs
model lstm_l = rnn cell=lstm attn=additive hidden=64
optim lstm_l epochs=15
train lstm_l 15 epochs

# --- on the small set, one change at a time from gru_s -----------------------
task piglatin size=small
model gru_mlp_s = rnn cell=gru attn=mlp hidden=64
optim gru_mlp_s epochs=30
train gru_mlp_s 30 epochs
model gru_none_s = rnn cell=gru attn=none hidden=64
optim gru_none_s epochs=30
train gru_none_s 30 epochs
model tanh_s = rnn cell=tanh attn=additive hidden=64
optim tanh_s epochs=30
train tanh_s 30 epochs

# --- what the best small-set run learned to look at --------------------------
runs
attn gru_l string
attn gru_l quickly
translate gru_l street strength yellow beam=4
