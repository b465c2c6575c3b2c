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

/* The current task (the one `model` uses), or NULL. */
sl_task *sl_workbench_task(sl_workbench *wb);
/* Exchanges the tasks and runs of a and b (what `plot` and `watch` chose
 * stays): `load` builds a session aside in the session's own workbench,
 * whose address front-ends may keep. Neither may be training. */
void sl_workbench_exchange(sl_workbench *a, sl_workbench *b);

/* The run called name, or NULL. */
sl_run *sl_workbench_run(sl_workbench *wb, const char *name);
int sl_workbench_nruns(const sl_workbench *wb);
sl_run *sl_workbench_run_at(sl_workbench *wb, int i);

/* Training in slices (the screen's main loop): nonzero while a `train`
 * command's job or a `sweep run` is unfinished (one at a time); advance it
 * by at most `seconds` of work.
 * Returns SL_OK, or SL_ERR when the job ended on an error (reported inside
 * a command; the message is also in sl_error() for a front-end that ticks
 * outside one). */
int sl_workbench_training(const sl_workbench *wb);
int sl_workbench_tick(sl_session *s, double seconds);
/* Pauses the job at a step boundary, or stops a sweep's workers (Ctrl-C,
 * `stop`). */
void sl_workbench_pause(sl_session *s);
/* "run 'x' is training" / "sweep 's' is running" (valid until the next
 * call on this thread), or "" when nothing runs. */
const char *sl_workbench_busy_text(const sl_workbench *wb);
/* `sweep run`: keeps the job (sweep.h) and, unless the session is
 * asynchronous, ticks it to its end. Nothing else may be running. */
struct sl_sweep_job;
int sl_workbench_run_sweep(sl_session *s, struct sl_sweep_job *j);
/* While a sweep runs: its progress into p, returns 1; else 0. */
struct sl_sweep_progress;
int sl_workbench_sweep_progress(sl_session *s, struct sl_sweep_progress *p);
/* While a job runs: what it has done so far as one journal line ("train RUN
 * N steps [eval=N] final=off"), into buf; returns 0 if there is no job or it
 * has not stepped yet. (A job records its line in the journal when it ends.) */
int sl_workbench_job_line(sl_workbench *wb, char *buf, size_t n);

/* The training job's progress, for a status line. */
typedef struct sl_train_progress {
	const sl_run *run;  /* NULL when nothing is training */
	double fraction;    /* 0..1 of the way to the target or cap; -1 when there is none */
	double elapsed;     /* wall seconds since `train` */
	double words_per_s; /* since `train`, over training time */
	int64_t steps;      /* steps since `train` */
} sl_train_progress;
void sl_workbench_progress(sl_session *s, sl_train_progress *p);

/* Checks an optimizer configuration, schedule and batch size against the
 * ranges the `optim` command accepts (a checkpoint's metadata must pass the
 * same checks). SL_OK, or SL_ERR with the error "KEY=X is out of range ...". */
int sl_workbench_check_optim(const sl_optim_config *oc, const sl_sched *sc, int bsz);

/* What `plot` and `watch` chose (display.h); owned by the workbench. */
struct sl_display;
struct sl_display *sl_workbench_display(sl_workbench *wb);

/* After a `save` or a `load`: every run is on disk as it is now. */
void sl_workbench_mark_saved(sl_workbench *wb);

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
