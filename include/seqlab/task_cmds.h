/* task_cmds.h - the task kinds' side of the commands: `task KIND ...` from
 * the kinds' tables, and `eval RUN lengths=A..B` (the accuracy-vs-length
 * table). Called from the workbench's task and eval handlers. */
#ifndef SEQLAB_TASK_CMDS_H
#define SEQLAB_TASK_CMDS_H

#include "seqlab/args.h"
#include "seqlab/run.h"
#include "seqlab/session.h"

/* Builds a task of the kind named `kind` (NULL: none given) from the rest of
 * a `task` command's arguments, parsed by the kind's option table (seed=N
 * defaults to the session's), gives it its canonical description (the
 * `task` arguments that make it again) and prints what it made. Returns the
 * task (no references taken), or NULL after reporting the error through the
 * session (an unknown kind included). */
sl_task *sl_task_cmd_make(sl_session *s, sl_args *a, const char *kind);

/* `eval RUN lengths=SPEC [n=N] [step=S]`: the run's accuracy on n fresh
 * sequences (default 256) at each length of SPEC (A..B, one length N, or
 * all = the task's shortest to its longest), every step-th, one
 * `length=N acc=X` line per length. Returns 0, taking nothing, when none of
 * lengths=, n=, step= was given (a plain eval); else takes the remaining
 * arguments, ends them, does it, and returns 1 with *status SL_OK or SL_ERR
 * (reported through the session). */
int sl_task_cmd_eval_lengths(sl_session *s, sl_args *a, sl_run *r, int *status);

#endif
