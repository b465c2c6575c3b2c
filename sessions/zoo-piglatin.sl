# Issue 14's table, its last column: the stacks of sessions/zoo.sl on
# Pig-Latin's large set as prefix language models over `source $ ^ target`
# (loss on the target only), the protocol of piglatin-mamba.sl: seed 0, 15
# epochs, AdamW lr 3e-3 (wd 0.01, clip 1), batch 64, cosine with 100 warm-up
# steps, val word accuracy by greedy decoding. Mamba's row is
# piglatin-mamba.sl's ml64, run again here; the widths and blocks are zoo.sl's.
# Run:  seqlab -f sessions/zoo-piglatin.sl > zoo-piglatin.out
# (about 5 minutes on 2 threads of a quiet machine). Results:
# sessions/zoo.md, "The table".
set seed=0 threads=2
task piglatin size=large
model s4d = s4d hidden=64 layers=2 state=32
model lru = lru hidden=64 layers=2 state=64 r_min=0.9 r_max=0.999
model hawk = hawk hidden=64 layers=2 mlp=2
model griffin = griffin hidden=64 pattern=RA mlp=2 heads=2 window=64
model gpt = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2
model lin = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2 attn=linear
model ml64 = mamba hidden=64
optim s4d epochs=15
optim lru epochs=15
optim hawk epochs=15
optim griffin epochs=15
optim gpt epochs=15
optim lin epochs=15
optim ml64 epochs=15
train s4d 15 epochs
train lru 15 epochs
train hawk 15 epochs
train griffin 15 epochs
train gpt 15 epochs
train lin 15 epochs
train ml64 15 epochs
runs
