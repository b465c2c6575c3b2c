/* src/session/args.c - placeholder, being written. */
typedef int sl_placeholder_args;
