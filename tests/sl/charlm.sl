# exit: 1
# task charlm on the default text (Debian's base-files GPL-3), with a
# small Mamba (untrained: its weights come from the seed) and sampling
# deterministically; and the errors.
set threads=1 seed=1
task charlm ctx=16 batches=10
model m = mamba hidden=16 layers=1
sample m n=60 seed=1
sample m prompt="the " n=20 temp=0
info m
sample nosuch
sample m prompt="ÿ"
sample m n=0
task charlm file=/nonexistent/text.txt
task charlm ctx=1
task piglatin size=100
model t = transformer hidden=16 heads=2 enc=1 dec=1
sample t
