/* run.h - a training run: a model, a task, an optimizer and a schedule,
 * advanced one optimizer step at a time (a resumable state machine: the
 * front-end decides when to step, evaluate or stop), with its metric
 * history. */
#ifndef SEQLAB_RUN_H
#define SEQLAB_RUN_H

#include "seqlab/model.h"
#include "seqlab/optim.h"
#include "seqlab/pool.h"
#include "seqlab/sched.h"
#include "seqlab/task.h"

typedef struct sl_run {
	char name[64];
	sl_model *model;            /* owned */
	sl_task *task;              /* shared: the run holds a reference */
	sl_optim_config ocfg;
	sl_optim *opt;
	sl_sched sched;
	int bsz;                    /* batch size */
	int shuffle;
	uint64_t seed;

	/* cursor: everything needed to resume */
	int64_t step;               /* optimizer updates done */
	int64_t epoch;              /* epochs completed */
	int batch;                  /* next batch of the current epoch's plan */
	void *plan;                 /* plan of the current epoch (rebuilt from seed, epoch) */

	sl_arena *arena;
	sl_tape *tape;

	/* history */
	int nsteps, capsteps;
	float *loss;                /* per step: mean per-token training loss */
	float *lr;                  /* per step */
	int nevals, capevals;
	sl_eval *evals;
	double seconds;             /* wall time spent in steps and evaluations */
	double tokens_since_eval, loss_sum_since_eval;
	int64_t words_trained;      /* sequences trained on */

	sl_mistakes mistakes;       /* of the last evaluation */

	int64_t saved_step;         /* the step a `save` or `load` found it at (see sl_run_unsaved) */

	/* the last `eval RUN lengths=...` (not saved with a session) */
	int nlen;
	int *len;                   /* (nlen) sequence lengths */
	double *len_acc;            /* (nlen) accuracy at each */
	int len_train;              /* the length the task trains at */
	struct sl_run_good *good;   /* the last good state (sl_run_mark_good), or NULL */

	/* a series task's predictions (plot forecast), computed for the run at
	 * forecast_step (-1: none yet); not saved */
	float *forecast;            /* (nforecast) */
	int nforecast;
	int64_t forecast_step;
} sl_run;

/* A run of model (ownership passes to the run on success) on task. NULL
 * with the error set if the optimizer or schedule settings are bad. */
sl_run *sl_run_new(const char *name, sl_model *model, sl_task *task, const sl_optim_config *ocfg,
		   const sl_sched *sched, int bsz, int shuffle, uint64_t seed, sl_pool *pool);
void sl_run_free(sl_run *r);
/* Replaces the optimizer and schedule (moments restart from zero). */
int sl_run_set_optim(sl_run *r, const sl_optim_config *ocfg, const sl_sched *sched, sl_pool *pool);

/* Whether the run has trained since it was last saved or loaded: work that
 * quitting would drop. */
int sl_run_unsaved(const sl_run *r);

/* Batches in one epoch at batch size bsz. */
int sl_run_epoch_batches(const sl_run *r, int bsz);

/* One optimizer update on the next batch (ocfg.accum batches). Sets
 * *epoch_end when it finished an epoch. SL_ERR with the error set when the
 * loss, the gradient or an updated weight is not finite ("non-finite
 * gradient (norm=inf) at step N", N counting from 1): the update is skipped
 * (a weight made non-finite stays so: roll back), and the run can go on
 * (with a lower lr, say) or sl_run_rollback(). */
int sl_run_step(sl_run *r, sl_pool *pool, int *epoch_end);

/* Evaluates on the task's held-out data, appends to the history and keeps
 * the mistakes. */
int sl_run_eval(sl_run *r, sl_pool *pool, sl_eval *out);

/* ---- the last good state: divergence rolls back to it ---- */
/* Keeps a copy of r's state at this step boundary (weights, optimizer
 * moments and state, schedule, data cursor, history length, mistakes) as
 * its last good state, replacing the previous one; SL_ERR (and no copy) if
 * a weight or moment is not finite. A training job marks its start and
 * every evaluation with a finite loss. */
int sl_run_mark_good(sl_run *r);
/* Restores the last good state (the weights of the steps after it, their
 * history and evaluations are dropped). Returns the step it restored, or -1
 * if there is none. Replacing the optimizer forgets it. */
int64_t sl_run_rollback(sl_run *r);
/* Forgets the last good state. */
void sl_run_forget_good(sl_run *r);

#endif
