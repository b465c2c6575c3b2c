/* src/session/commands.c - placeholder, being written. */
typedef int sl_placeholder_commands;
