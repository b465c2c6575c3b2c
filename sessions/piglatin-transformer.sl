# Pig-Latin with the encoder-decoder Transformer (seeds 000/001, Q1).
# Run:  seqlab -f sessions/piglatin-transformer.sl > out.txt
# Results and commentary: sessions/piglatin-transformer.md.
# Every run trains for the same number of epochs with the default optimizer
# (AdamW lr 3e-3, wd 0.01, clip 1, batch 64, cosine over the run with 100
# warmup steps); the homework trained 100 epochs with ReduceLROnPlateau.
set seed=0 threads=2

# --- the homework's four runs: hidden 32/64 x small/large -----------------
task piglatin size=small
model s32 = transformer hidden=32 heads=4 dec_pe=sinusoidal
optim s32 epochs=30
train s32 30 epochs
model s64 = transformer hidden=64 dec_pe=sinusoidal
optim s64 epochs=30
train s64 30 epochs
task piglatin size=large
model l32 = transformer hidden=32 heads=4 dec_pe=sinusoidal
optim l32 epochs=15
train l32 15 epochs
model l64 = transformer hidden=64 dec_pe=sinusoidal
optim l64 epochs=15
train l64 15 epochs

# --- ablations on the small set, one change at a time from hidden 64,
# 2+2 layers, 8 heads, sinusoidal positions --------------------------------
task piglatin size=small
model heads4 = transformer heads=4 dec_pe=sinusoidal
optim heads4 epochs=30
train heads4 30 epochs
model heads16 = transformer heads=16 dec_pe=sinusoidal
optim heads16 epochs=30
train heads16 30 epochs
model layers4 = transformer enc=4 dec=4 dec_pe=sinusoidal
optim layers4 epochs=30
train layers4 30 epochs
model layers8 = transformer enc=8 dec=8 dec_pe=sinusoidal
optim layers8 epochs=30
train layers8 30 epochs
model pe_none = transformer enc_pe=none dec_pe=none
optim pe_none epochs=30
train pe_none 30 epochs
model pe_learned = transformer enc_pe=learned dec_pe=learned
optim pe_learned epochs=30
train pe_learned 30 epochs
model pe_dec_learned = transformer dec_pe=learned
optim pe_dec_learned epochs=30
train pe_dec_learned 30 epochs

# --- the tuned configuration (the default): learned decoder positions -----
task piglatin size=large
model tuned = transformer
optim tuned epochs=40
train tuned 40 epochs
translate tuned shopping team brown impress strengthening pleasure-grounds
mistakes tuned n=20
runs
