# exit: 1
# The workbench commands and their errors: each error is one line and
# changes nothing (runs, settings and the task stay as they were).
set threads=1
model early = transformer
train nosuch 1 steps
task nosuch
task piglatin file=/nonexistent/pairs.txt
task piglatin size=huge
task piglatin words=/nonexistent/words
task piglatin size=200 seed=3
model t = transfomer
model t transformer
model 9t = transformer
model t = transformer hidden=abc
model t = transformer heads=3
model t = transformer hiden=32
model t = transformer hidden=16 heads=2 enc=1 dec=1 mlp=2
model t = transformer
runs
info t
optim t bogus
optim t lr=-1
optim t sched=step
optim t sched=sometimes
optim t adam lr=1e-2 batch=16 sched=constant
train t
train t 0 steps
train t 5 parsecs
train t until acc>=1
train t until val_acc>=x
train t 1 steps max=soon
train t 1 steps colour=blue
translate nosuch shopping
translate t Sh0p!
translate t
translate t shopping beam=0
mistakes t
attn t shopping layer=7
attn t shopping kind=sideways
drop nosuch
drop t
runs
show settings
# sweeps read their words as every command's: quoted values work
sweep qs = gpt hidden="8,16" layers='1' steps=2 seed=1,2
sweep qbad = gpt hidden="8 16" steps=2
