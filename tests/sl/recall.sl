# exit: 1
# The generated tasks (recall, mqar, copy), the gpt and hybrid models and
# eval's accuracy-vs-length table: the settings they print, and their errors
# (each one line, changing nothing).
set threads=1 seed=5
task
task recal
task frobnicate
task recall K=abc
task recall M=20
task recall K=8 M=9
task recall L=2
task recall L=6 tau=5
task recall embed=random
task recall embed=learned d=8
task recall pairs=4
task recall maxlen=10
task recall file=x.txt
task mqar L=33
task mqar L=64 pairs=20
task mqar vocab=64 L=64
task mqar vocab=16 L=8 pairs=2 power_a=0
task mqar noise=maybe
task copy L=10 N=11
task copy K=4
# good ones
task mqar vocab=256 L=32 pairs=4 power_a=0.5 noise=off batches=5 test=8
task copy L=64 N=8 A=4 maxlen=100 seed=9
task recall K=16 d=64 M=4 L=16 tau=2 test=32
# models on it: a fixed embedding of 64 needs hidden >= 64
model g = gpt hidden=32
model g = gpt hidden=64 heads=5
model g = gpt hidden=64 heads=16 pe=rope layers=17
model h = hybrid hidden=64 pattern=MXA
model h = hybrid hidden=64 pattern=
model h = hybrid hidden=64 heads=64 pe=rope
model m = mamba hidden=32
runs
task recall K=16 d=8 M=1 L=16 tau=1 test=32
model g = gpt hidden=8 heads=1 mlp=0
model r = gpt hidden=8 heads=2 mlp=0 pe=rope
model h = hybrid hidden=8 heads=1 pattern=MAM
model t = transformer hidden=8 heads=1
runs
info h
eval g
eval t
# the accuracy-vs-length table, and its errors
eval r lengths=3..5 n=16
eval r lengths=20 n=16
eval r lengths=40..50 step=5 n=16
# beyond g's 48 learned positions: refused before a line, with what fits
eval g lengths=47..49 n=4
eval g lengths=60..70
eval r lengths=abc
eval r lengths=5..3
eval r lengths=2..4
eval r lengths=3..4 n=0
eval r lengths=3..4 step=0
eval r lengths= n=4
eval r n=4
eval t lengths=3..4
eval nosuch lengths=3..4
eval r n=abc
eval r step=2
eval r lengths=all n=1 step=20
