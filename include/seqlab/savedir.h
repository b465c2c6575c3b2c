/* savedir.h - saved sessions: `save DIR` writes the journal (journal.sl),
 * the commands that make every run again (state.sl), and each run's
 * checkpoint (RUN.safetensors, checkpoint.h) and history (RUN.csv), sealed;
 * `load DIR` and `replay DIR` read them as untrusted input; and model files
 * (export, import). */
#ifndef SEQLAB_SAVEDIR_H
#define SEQLAB_SAVEDIR_H

#include "seqlab/args.h"
#include "seqlab/session.h"

/* ---- saved sessions ---- */

/* Saves the session into the directory dir (replacing a previous save
 * there, which must be a seqlab session). SL_ERR with a one-line error on
 * failure; the previous save is then unchanged. */
int sl_savedir_save(sl_session *s, const char *dir);

/* Restores a saved session into s, which must have no runs: settings,
 * tasks, runs and their state, and the journal. On any error (a missing,
 * truncated or damaged file...) returns SL_ERR with one line and s is
 * unchanged. */
int sl_savedir_load(sl_session *s, const char *dir);

/* ---- commands ---- */
int sl_cmd_save(sl_session *s, sl_args *a);
int sl_cmd_load(sl_session *s, sl_args *a);
int sl_cmd_replay(sl_session *s, sl_args *a);
int sl_cmd_export(sl_session *s, sl_args *a);
int sl_cmd_import(sl_session *s, sl_args *a);

#endif
