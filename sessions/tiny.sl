# A tiny session to replay: a 9k-parameter Transformer trained for 300 steps
# (a second or two), saved as sessions/tiny.seqlab. `make check` replays it
# and compares the metrics it recorded (tests/session.test):
#
#   seqlab -c 'replay sessions/tiny.seqlab check'
#
# Made with:  cd sessions && seqlab -f tiny.sl
set seed=0 threads=1
task piglatin size=200 seed=0
model tiny = transformer hidden=16 heads=2 enc=1 dec=1 mlp=2
optim tiny adamw lr=1e-2 batch=16 steps=300 warmup=20
train tiny 300 steps eval=100
save tiny.seqlab
