/* src/session/session.c - placeholder, being written. */
typedef int sl_placeholder_session;
