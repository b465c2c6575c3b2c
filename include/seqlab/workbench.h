/* workbench.h - what a session works on: the current task's data and the
 * named runs (model + optimizer + history), and the training job that
 * advances one of them in bounded slices.
 *
 * The handlers of the task/model/optim/train/eval/translate/mistakes/attn/
 * runs/info/drop commands live here; commands.c lists them in the table. */
#ifndef SEQLAB_WORKBENCH_H
#define SEQLAB_WORKBENCH_H

#include "seqlab/args.h"
#include "seqlab/run.h"
#include "seqlab/session.h"

typedef struct sl_workbench sl_workbench;

sl_workbench *sl_workbench_new(void);
void sl_workbench_free(sl_workbench *wb);

/* The run called name, or NULL. */
sl_run *sl_workbench_run(sl_workbench *wb, const char *name);
int sl_workbench_nruns(const sl_workbench *wb);
sl_run *sl_workbench_run_at(sl_workbench *wb, int i);

/* Training in slices (the screen's main loop): nonzero while a `train`
 * command's job is unfinished; advance it by at most `seconds` of work.
 * Returns SL_OK, or SL_ERR when the job ended on an error (reported). */
int sl_workbench_training(const sl_workbench *wb);
int sl_workbench_tick(sl_session *s, double seconds);
/* Pauses the job at a step boundary (Ctrl-C, `stop`). */
void sl_workbench_pause(sl_session *s);

/* Command handlers. */
int sl_cmd_task(sl_session *s, sl_args *a);
int sl_cmd_model(sl_session *s, sl_args *a);
int sl_cmd_optim(sl_session *s, sl_args *a);
int sl_cmd_train(sl_session *s, sl_args *a);
int sl_cmd_stop(sl_session *s, sl_args *a);
int sl_cmd_eval(sl_session *s, sl_args *a);
int sl_cmd_translate(sl_session *s, sl_args *a);
int sl_cmd_mistakes(sl_session *s, sl_args *a);
int sl_cmd_attn(sl_session *s, sl_args *a);
int sl_cmd_runs(sl_session *s, sl_args *a);
int sl_cmd_info(sl_session *s, sl_args *a);
int sl_cmd_drop(sl_session *s, sl_args *a);

/* Completion of run names (for the table's completers). */
void sl_workbench_complete_runs(sl_session *s, const char *prefix, void (*add)(void *, const char *), void *ctx);

#endif
