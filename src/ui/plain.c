/* src/ui/plain.c - placeholder, being written. */
typedef int sl_placeholder_plain;
