# Issue 14's table: the model zoo on the seeds' tasks (seeds 002/003/004),
# at CPU size. Seven 2-layer models of width 64 -- S4D, the LRU, Mamba, Hawk
# (RG-LRU), Griffin (one RG-LRU block then one local-attention block, window
# 64), the decoder-only Transformer with softmax attention and with linear
# attention (both pe=rope: learned positions cannot be evaluated past L) --
# on (1) associative recall / induction heads, K=16, d=64 fixed embeddings,
# M = 1, 4, 16, trained at L=64, accuracy at L, 2L, 3L; (2) MQAR at zoology's
# smallest setting (vocab 8192, T=64, 4 pairs), model width 64 and 128.
# Selective copying is sessions/zoo-copy.sl; Pig-Latin is in
# piglatin-transformer.sl, piglatin-mamba.sl, rnn-piglatin.sl.
# In the order of priority (a cut run keeps the earlier sections whole):
# recall M=1, recall M=4, MQAR d=64, recall M=16, MQAR d=128.
# Every run: AdamW lr 3e-3 (wd 0.01, clip 1), cosine with 100 warmup steps,
# batch 32; 1,500 steps on recall, 600 on MQAR (a CPU budget of about an hour
# for the whole file on one thread; not converged schedules).
# Run:  seqlab -f sessions/zoo.sl > zoo.out  (recall M=1, 4, 16 and MQAR width 64:
# 45 minutes on one thread of a loaded 2-core machine; MQAR width 128 more)
# Results and commentary: sessions/zoo.md, "The table".
set seed=0 threads=1


# (1) recall M=1
task recall K=16 d=64 M=1 L=64 tau=1
model r1_s4d = s4d hidden=64 layers=2 state=32
optim r1_s4d batch=32 lr=3e-3 steps=1500
train r1_s4d 1500 steps eval=500
eval r1_s4d lengths=64..192 step=64
model r1_lru = lru hidden=64 layers=2 state=64 r_min=0.9 r_max=0.999
optim r1_lru batch=32 lr=3e-3 steps=1500
train r1_lru 1500 steps eval=500
eval r1_lru lengths=64..192 step=64
model r1_mamba = mamba hidden=64 layers=2
optim r1_mamba batch=32 lr=3e-3 steps=1500
train r1_mamba 1500 steps eval=500
eval r1_mamba lengths=64..192 step=64
model r1_hawk = hawk hidden=64 layers=2 mlp=2
optim r1_hawk batch=32 lr=3e-3 steps=1500
train r1_hawk 1500 steps eval=500
eval r1_hawk lengths=64..192 step=64
model r1_griffin = griffin hidden=64 pattern=RA mlp=2 heads=2 window=64
optim r1_griffin batch=32 lr=3e-3 steps=1500
train r1_griffin 1500 steps eval=500
eval r1_griffin lengths=64..192 step=64
model r1_gpt = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2
optim r1_gpt batch=32 lr=3e-3 steps=1500
train r1_gpt 1500 steps eval=500
eval r1_gpt lengths=64..192 step=64
model r1_lin = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2 attn=linear
optim r1_lin batch=32 lr=3e-3 steps=1500
train r1_lin 1500 steps eval=500
eval r1_lin lengths=64..192 step=64

# (1) recall M=4
task recall K=16 d=64 M=4 L=64 tau=1
model r4_s4d = s4d hidden=64 layers=2 state=32
optim r4_s4d batch=32 lr=3e-3 steps=1500
train r4_s4d 1500 steps eval=500
eval r4_s4d lengths=64..192 step=64
model r4_lru = lru hidden=64 layers=2 state=64 r_min=0.9 r_max=0.999
optim r4_lru batch=32 lr=3e-3 steps=1500
train r4_lru 1500 steps eval=500
eval r4_lru lengths=64..192 step=64
model r4_mamba = mamba hidden=64 layers=2
optim r4_mamba batch=32 lr=3e-3 steps=1500
train r4_mamba 1500 steps eval=500
eval r4_mamba lengths=64..192 step=64
model r4_hawk = hawk hidden=64 layers=2 mlp=2
optim r4_hawk batch=32 lr=3e-3 steps=1500
train r4_hawk 1500 steps eval=500
eval r4_hawk lengths=64..192 step=64
model r4_griffin = griffin hidden=64 pattern=RA mlp=2 heads=2 window=64
optim r4_griffin batch=32 lr=3e-3 steps=1500
train r4_griffin 1500 steps eval=500
eval r4_griffin lengths=64..192 step=64
model r4_gpt = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2
optim r4_gpt batch=32 lr=3e-3 steps=1500
train r4_gpt 1500 steps eval=500
eval r4_gpt lengths=64..192 step=64
model r4_lin = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2 attn=linear
optim r4_lin batch=32 lr=3e-3 steps=1500
train r4_lin 1500 steps eval=500
eval r4_lin lengths=64..192 step=64

# (2) MQAR, zoology's smallest setting, model width 64
task mqar vocab=8192 L=64 pairs=4
model q64_s4d = s4d hidden=64 layers=2 state=32
optim q64_s4d batch=32 lr=3e-3 steps=600
train q64_s4d 600 steps eval=300
model q64_lru = lru hidden=64 layers=2 state=64 r_min=0.9 r_max=0.999
optim q64_lru batch=32 lr=3e-3 steps=600
train q64_lru 600 steps eval=300
model q64_mamba = mamba hidden=64 layers=2
optim q64_mamba batch=32 lr=3e-3 steps=600
train q64_mamba 600 steps eval=300
model q64_hawk = hawk hidden=64 layers=2 mlp=2
optim q64_hawk batch=32 lr=3e-3 steps=600
train q64_hawk 600 steps eval=300
model q64_griffin = griffin hidden=64 pattern=RA mlp=2 heads=2 window=64
optim q64_griffin batch=32 lr=3e-3 steps=600
train q64_griffin 600 steps eval=300
model q64_gpt = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2
optim q64_gpt batch=32 lr=3e-3 steps=600
train q64_gpt 600 steps eval=300
model q64_lin = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2 attn=linear
optim q64_lin batch=32 lr=3e-3 steps=600
train q64_lin 600 steps eval=300

# (1) recall M=16
task recall K=16 d=64 M=16 L=64 tau=1
model r16_s4d = s4d hidden=64 layers=2 state=32
optim r16_s4d batch=32 lr=3e-3 steps=1500
train r16_s4d 1500 steps eval=500
eval r16_s4d lengths=64..192 step=64
model r16_lru = lru hidden=64 layers=2 state=64 r_min=0.9 r_max=0.999
optim r16_lru batch=32 lr=3e-3 steps=1500
train r16_lru 1500 steps eval=500
eval r16_lru lengths=64..192 step=64
model r16_mamba = mamba hidden=64 layers=2
optim r16_mamba batch=32 lr=3e-3 steps=1500
train r16_mamba 1500 steps eval=500
eval r16_mamba lengths=64..192 step=64
model r16_hawk = hawk hidden=64 layers=2 mlp=2
optim r16_hawk batch=32 lr=3e-3 steps=1500
train r16_hawk 1500 steps eval=500
eval r16_hawk lengths=64..192 step=64
model r16_griffin = griffin hidden=64 pattern=RA mlp=2 heads=2 window=64
optim r16_griffin batch=32 lr=3e-3 steps=1500
train r16_griffin 1500 steps eval=500
eval r16_griffin lengths=64..192 step=64
model r16_gpt = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2
optim r16_gpt batch=32 lr=3e-3 steps=1500
train r16_gpt 1500 steps eval=500
eval r16_gpt lengths=64..192 step=64
model r16_lin = gpt hidden=64 layers=2 heads=2 pe=rope mlp=2 attn=linear
optim r16_lin batch=32 lr=3e-3 steps=1500
train r16_lin 1500 steps eval=500
eval r16_lin lengths=64..192 step=64

# (2) MQAR, zoology's smallest setting, model width 128
task mqar vocab=8192 L=64 pairs=4
model q128_s4d = s4d hidden=128 layers=2 state=32
optim q128_s4d batch=32 lr=3e-3 steps=600
train q128_s4d 600 steps eval=300
model q128_lru = lru hidden=128 layers=2 state=64 r_min=0.9 r_max=0.999
optim q128_lru batch=32 lr=3e-3 steps=600
train q128_lru 600 steps eval=300
model q128_mamba = mamba hidden=128 layers=2
optim q128_mamba batch=32 lr=3e-3 steps=600
train q128_mamba 600 steps eval=300
model q128_hawk = hawk hidden=128 layers=2 mlp=2
optim q128_hawk batch=32 lr=3e-3 steps=600
train q128_hawk 600 steps eval=300
model q128_griffin = griffin hidden=128 pattern=RA mlp=2 heads=2 window=64
optim q128_griffin batch=32 lr=3e-3 steps=600
train q128_griffin 600 steps eval=300
model q128_gpt = gpt hidden=128 layers=2 heads=2 pe=rope mlp=2
optim q128_gpt batch=32 lr=3e-3 steps=600
train q128_gpt 600 steps eval=300
model q128_lin = gpt hidden=128 layers=2 heads=2 pe=rope mlp=2 attn=linear
optim q128_lin batch=32 lr=3e-3 steps=600
train q128_lin 600 steps eval=300
runs
