# The best validation loss in 10 minutes on 2 cores (issue 16): a recipe of
# our choosing for Tiny Shakespeare. A GPT of 6 layers, 6 heads, width 192
# (2.7 M parameters), context 128, batch 16, AdamW lr 1.5e-3 with 100
# warm-up steps and cosine decay to 1.5e-4 over 2,300 steps, beta2 0.99,
# weight decay 0.1, clipping at 1, no dropout (4.7 M training characters,
# 4.7 epochs: too short to overfit). 2,300 steps take about 9.5 minutes of
# training on this machine's 2 cores (0.25 s a step, measured); `max=10m`
# stops it at 10 minutes whatever the machine.
# Run from the project's top directory (the text is shared/data's):
#   seqlab -f sessions/charlm-10min.sl
set seed=1337 threads=2
task charlm file=../shared/data/tinyshakespeare.txt ctx=128 batches=100 eval=65536
model g = gpt layers=6 heads=6 hidden=192 mlp=4 pe=learned dropout=0
optim g adamw lr=1.5e-3 beta2=0.99 wd=0.1 clip=1 batch=16 sched=cosine steps=2300 warmup=100 min_lr=1.5e-4
train g 2300 steps max=10m eval=575
runs
sample g prompt="ROMEO:" n=300 seed=1
