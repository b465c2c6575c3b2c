# The Mamba ablations of seeds 000/001 (Q2) as sweeps, on 3 seeds each:
# the discretisation of the SSM crossed with the initialisation of A (the
# write-up's two tables), and hidden size x data size (the homework's four
# runs). Base: piglatin-mamba.sl (hidden 64, 2 blocks, state 16, a prefix
# language model over `source EOS SOS target`). Results: sessions/README.md.
#
#   seqlab --sweep sessions/mamba-ablations.sl             every point, here
#   seqlab --sweep sessions/mamba-ablations.sl --shard 1/4 a quarter
#   seqlab -c 'sweep show mb_disc'                         a table
#
# The sweeps go to mb_*.sweep/ in the current directory.

task piglatin size=small seed=0
sweep mb_disc = mamba disc=zoh-approx,zoh,bilinear,euler a_init=s4d-real,const,s4d-lin seed=0,1,2 epochs=30 metric=val_acc
sweep mb_small = mamba hidden=32,64 seed=0,1,2 epochs=30 metric=val_acc
task piglatin size=large seed=0
sweep mb_large = mamba hidden=32,64 seed=0,1,2 epochs=15 metric=val_acc
