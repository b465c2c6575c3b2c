/* src/train/optim.c - placeholder, being written. */
typedef int sl_placeholder_optim;
