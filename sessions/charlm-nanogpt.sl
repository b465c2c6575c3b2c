# nanoGPT's CPU recipe for Tiny Shakespeare (karpathy/nanoGPT
# config/train_shakespeare_char.py with its README's CPU settings), through
# seqlab: a GPT of 4 layers, 4 heads, 128 wide, context 64, batch 12, 2,000
# iterations, AdamW lr 1e-3 with 100 warm-up steps and cosine decay to 1e-4,
# beta2 0.99, weight decay 0.1, gradient clipping at 1, no dropout. nanoGPT
# reaches a validation loss of 1.88 this way.
# Run from the project's top directory (the text is shared/data's):
#   seqlab -f sessions/charlm-nanogpt.sl
set seed=1337 threads=2
task charlm file=../shared/data/tinyshakespeare.txt ctx=64 batches=100 eval=65536
model g = gpt layers=4 heads=4 hidden=128 mlp=4 pe=learned dropout=0
optim g adamw lr=1e-3 beta2=0.99 wd=0.1 clip=1 batch=12 sched=cosine steps=2000 warmup=100 min_lr=1e-4
train g 2000 steps eval=500
sample g prompt="ROMEO:" n=300 seed=1
