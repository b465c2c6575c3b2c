# Pixels (seed 003, issue 16): images as sequences. Fashion-MNIST's trousers
# (class 1), shrunk to 16x16 and quantised to 8 grey levels, read row by row
# after a start token (256 pixels); a small GPT (216,585 parameters) learns
# them as a language model of pixels for 1,000 steps (about five minutes on
# one thread); its test NLL in bits per pixel is val_loss / ln 2 (uniform:
# 3 bits); then it draws eight images pixel by pixel (sessions/pixels.md).
# Needs Debian's dataset-fashion-mnist. Run from anywhere:
#   seqlab -f sessions/pixels.sl
# and keep the pictures with `heatmap save /tmp/pixels.png` after it
# (seqlab -c 'source sessions/pixels.sl; heatmap save /tmp/pixels.png').
set seed=1 threads=1
task pixels size=16 levels=8 class=1 batches=100 test=256
model px = gpt layers=4 heads=4 hidden=64 mlp=4 pe=learned dropout=0
optim px adamw lr=3e-3 beta2=0.99 wd=0.1 clip=1 batch=16 sched=cosine steps=1000 warmup=50 min_lr=1e-4
train px 1000 steps eval=250
sample px images=8 temp=1 seed=0
