# seqlab state 1
# Recreates the session's tasks and runs without training; `load` then
# restores every run's state from RUN.safetensors. Not for editing.
set seed=0 threads=1
task piglatin words=/usr/share/dict/words size=200 seed=0
model tiny = transformer hidden=16 enc=1 dec=1 heads=2 mlp=2 norm=pre enc_pe=sinusoidal dec_pe=learned dropout=0 seed=0
# end of state: 3 commands, fnv1a64 4076e019bd81fa7f
