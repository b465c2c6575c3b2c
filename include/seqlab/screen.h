/* screen.h - the workbench screen: ncurses panes (output log, curves,
 * heatmap), a status line and a readline prompt, with training advanced in
 * slices on a thread of its own while the prompt stays live.
 *
 * Every line typed runs through the session's one interpreter, as in plain
 * mode; the screen only changes where output goes (the log pane), where views
 * go (the heatmap pane) and how `train` runs (in the background: the prompt,
 * `translate`, `attn`, `eval` stay live while a run trains). The keys are in
 * seqlab(1). */
#ifndef SEQLAB_SCREEN_H
#define SEQLAB_SCREEN_H

#include "seqlab/session.h"

/* Takes over the terminal (stdin and stdout must be terminals) until `quit`,
 * end of input, SIGTERM or SIGHUP, then restores it (also on a crash). FILE,
 * when not NULL, runs first, line by line as if typed, each line waiting for
 * the training a previous line started. History is kept in
 * ~/.seqlab_history. Returns SL_OK; *script_failed (may be NULL) is set when
 * a command of FILE failed. Returns SL_ERR with the error set, having drawn
 * nothing, when the terminal cannot be used (unknown TERM, say): the caller
 * can fall back on the plain prompt. */
int sl_screen_run(sl_session *s, const char *file, int *script_failed);

/* Lets `plot save FILE` write images with gnuplot in a front-end that does
 * not draw curves itself (plain mode); the screen does this on its own. */
void sl_screen_attach_plot_save(sl_session *s);

#endif
