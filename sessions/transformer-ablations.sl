# The Transformer ablations of seeds 000/001 (Q1) as sweeps: each changes one
# thing from the base of piglatin-transformer.sl (hidden 64, 2+2 layers, 8
# heads, sinusoidal positions, AdamW 3e-3 with a cosine schedule over 30
# epochs), on 3 seeds, so the table shows a mean and a spread instead of one
# run per setting. The write-up's numbers are in sessions/README.md.
#
#   seqlab --sweep sessions/transformer-ablations.sl           every point, here
#   seqlab --sweep sessions/transformer-ablations.sl --shard 0/4   a quarter
#   mpirun -n 8 seqlab --sweep sessions/transformer-ablations.sl   (--with-mpi)
#   seqlab -c 'sweep show tf_heads'                            a table
#
# The sweeps go to tf_*.sweep/ in the current directory.

# --- hidden size x data size (the homework's four runs) -------------------
task piglatin size=small seed=0
sweep tf_small = transformer hidden=32,64 heads=4 dec_pe=sinusoidal seed=0,1,2 epochs=30 metric=val_acc
task piglatin size=large seed=0
sweep tf_large = transformer hidden=32,64 heads=4 dec_pe=sinusoidal seed=0,1,2 epochs=15 metric=val_acc

# --- one change at a time, on the small set --------------------------------
task piglatin size=small seed=0
# heads of width 16, 8 and 4 at hidden 64
sweep tf_heads = transformer heads=4,8,16 dec_pe=sinusoidal seed=0,1,2 epochs=30 metric=val_acc
# encoder x decoder depth
sweep tf_layers = transformer enc=1,2,4 dec=1,2,4 dec_pe=sinusoidal seed=0,1,2 epochs=30 metric=val_acc
# positions: the write-up's "output positional embeddings" and more
sweep tf_positions = transformer enc_pe=sinusoidal,learned,none dec_pe=sinusoidal,learned,none seed=0,1,2 epochs=30 metric=val_acc
# the optimizer around the default
sweep tf_lr = transformer lr=1e-3,3e-3,1e-2 batch=32,64,128 seed=0,1,2 epochs=30 metric=val_acc
