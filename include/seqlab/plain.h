/* plain.h - the plain line front-end: scripts, pipes, tests, and (until the
 * screen exists) a readline prompt on a terminal.
 *
 * Output: results and text to stdout (line-buffered, so stdout and stderr
 * interleave in order in a pipe or with 2>&1), each error to stderr as one
 * line "error: ...". */
#ifndef SEQLAB_PLAIN_H
#define SEQLAB_PLAIN_H

#include "seqlab/session.h"

#include <stdio.h>

/* Sends the session's output to stdout/stderr as above and makes stdout
 * line-buffered. Call before anything is printed. */
void sl_plain_attach(sl_session *s);

/* Runs the lines of in, one physical line at a time through
 * sl_session_feed(), until the end of input, `quit`, or (without
 * keep-going) the first failing command. origin names the stream in error
 * locations ("<stdin>"). Returns SL_OK if no command failed, else SL_ERR. */
int sl_plain_run_stream(sl_session *s, FILE *in, const char *origin);

/* The interactive prompt "seqlab> " ("...> " after a continuation), with
 * history in ~/.seqlab_history and tab completion from the command table.
 * A failing command does not end it; `quit` or end of input (Ctrl-D) does.
 * Returns SL_OK. */
int sl_plain_prompt(sl_session *s);

#endif
