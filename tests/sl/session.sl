# exit: 1
# save, load, replay, export, import: their errors, one line each, and a
# round trip of runs that have not trained (so nothing depends on timing).
set threads=1
save
save a b
load
load nosuch
replay
replay nosuch
export
export nosuch x.safetensors
import
import u x.safetensors
import u = nosuch.safetensors
task piglatin size=100 seed=2
model t = transformer hidden=16 heads=2 enc=1 dec=1
optim t adam batch=8 sched=constant
echo -- save twice: the second replaces the first
save s
save s
load s
drop t
echo -- load into an empty session
load s
runs
info t
export t t.safetensors
import t = t.safetensors
import u = t.safetensors
runs
replay s
replay s bogus
replay s check tol=2
drop t
drop u
echo -- replay: the journal again, then compare
replay s check
drop t
echo -- not a session
save s/journal.sl
save .
load s/t.safetensors
load t.safetensors
load .
