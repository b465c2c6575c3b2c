/* src/train/sched.c - placeholder, being written. */
typedef int sl_placeholder_sched;
