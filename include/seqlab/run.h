/* run.h - a training run: a model, the task's data, an optimizer and a
 * schedule, advanced one optimizer step at a time (a resumable state
 * machine: the front-end decides when to step, evaluate or stop), with its
 * metric history. */
#ifndef SEQLAB_RUN_H
#define SEQLAB_RUN_H

#include "seqlab/model.h"
#include "seqlab/optim.h"
#include "seqlab/piglatin.h"
#include "seqlab/pool.h"
#include "seqlab/sched.h"

/* One evaluation on the validation words. */
typedef struct sl_eval {
	int64_t step;
	int64_t epoch;      /* epochs completed when it ran */
	double seconds;     /* run's training wall time when it ran */
	double train_loss;  /* mean per-character loss since the previous evaluation */
	double val_loss;    /* teacher-forced per-character cross-entropy */
	double val_acc;     /* exact-match word accuracy of greedy decoding */
	double cer;         /* character error rate (edit distance / target chars) */
	int words, correct;
} sl_eval;

typedef struct sl_run {
	char name[64];
	sl_model *model;            /* owned */
	const sl_pl_data *data;     /* the task's data; not owned */
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
	sl_pl_plan *plan;           /* plan of the current epoch (rebuilt from seed, epoch) */

	sl_arena *arena;
	sl_tape *tape;

	/* history */
	int nsteps, capsteps;
	float *loss;                /* per step: mean per-character training loss */
	float *lr;                  /* per step */
	int nevals, capevals;
	sl_eval *evals;
	double seconds;             /* wall time spent in steps and evaluations */
	double chars_since_eval, loss_sum_since_eval;
	int64_t words_trained;

	/* the mistakes of the last evaluation */
	int nmistakes;
	char **mistake_src, **mistake_out, **mistake_want;
} sl_run;

/* A run of model (ownership passes to the run) on data. NULL with the error
 * set if the optimizer or schedule settings are bad. */
sl_run *sl_run_new(const char *name, sl_model *model, const sl_pl_data *data, const sl_optim_config *ocfg,
		   const sl_sched *sched, int bsz, int shuffle, uint64_t seed, sl_pool *pool);
void sl_run_free(sl_run *r);
/* Replaces the optimizer and schedule (moments restart from zero). */
int sl_run_set_optim(sl_run *r, const sl_optim_config *ocfg, const sl_sched *sched, sl_pool *pool);

/* Batches in one epoch. */
int sl_run_epoch_batches(const sl_run *r);

/* One optimizer update on the next batch (ocfg.accum batches). Sets
 * *epoch_end when it finished an epoch. SL_ERR with the error set when the
 * loss or gradient is not finite: the update is skipped, the weights are
 * unchanged, and the run can go on (with a lower lr, say). */
int sl_run_step(sl_run *r, sl_pool *pool, int *epoch_end);

/* Evaluates on the validation words (teacher-forced loss, greedy accuracy,
 * CER), appends to the history and keeps the mistakes. */
int sl_run_eval(sl_run *r, sl_pool *pool, sl_eval *out);

/* Translates one word (lowercase a-z and '-') by greedy decoding (beam <= 1)
 * or beam search. Writes the output into out. SL_ERR for a word outside the
 * vocabulary or too long. */
int sl_run_translate(sl_run *r, sl_pool *pool, const char *word, int beam, char *out, size_t n);

/* The longest output allowed for a source: Pig-Latin adds at most three
 * characters per piece, plus EOS. */
int sl_pl_max_target(const char *src, int S);

#endif
