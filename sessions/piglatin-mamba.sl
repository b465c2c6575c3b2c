# Pig-Latin with Mamba as a prefix language model over `source EOS SOS target`
# (seeds 000/001, Q2). Run:  seqlab -f sessions/piglatin-mamba.sl > out.txt
# Results and commentary: sessions/piglatin-mamba.md.
set seed=0 threads=2

# --- the homework's four runs: hidden 32/64 x small/large -----------------
task piglatin size=small
model ms32 = mamba hidden=32
optim ms32 epochs=30
train ms32 30 epochs
model ms64 = mamba hidden=64
optim ms64 epochs=30
train ms64 30 epochs
task piglatin size=large
model ml32 = mamba hidden=32
optim ml32 epochs=15
train ml32 15 epochs
model ml64 = mamba hidden=64
optim ml64 epochs=15
train ml64 15 epochs

# --- discretisation, on the small set (the write-up's first table) -------
task piglatin size=small
model zoh_approx = mamba disc=zoh-approx
optim zoh_approx epochs=30
train zoh_approx 30 epochs
model zoh = mamba disc=zoh
optim zoh epochs=30
train zoh 30 epochs
model bilinear = mamba disc=bilinear
optim bilinear epochs=30
train bilinear 30 epochs
model euler = mamba disc=euler
optim euler epochs=30
train euler 30 epochs

# --- A initialisation (the write-up's second table: A = -I) ---------------
model aconst_zoh_approx = mamba a_init=const disc=zoh-approx
optim aconst_zoh_approx epochs=30
train aconst_zoh_approx 30 epochs
model aconst_bilinear = mamba a_init=const disc=bilinear
optim aconst_bilinear epochs=30
train aconst_bilinear 30 epochs
model alin_bilinear = mamba a_init=s4d-lin disc=bilinear
optim alin_bilinear epochs=30
train alin_bilinear 30 epochs

ssm bilinear conditioning show=decay layer=0
ssm bilinear conditioning show=delta layer=0
runs
