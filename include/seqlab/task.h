/* task.h - what a run trains on: a task makes batches, scores a model on a
 * batch (the training loss) and evaluates it on held-out data. The training
 * loop (run.h) and the commands see only this interface; each task
 * (piglatin, later recall, mqar, copy, charlm) implements it. */
#ifndef SEQLAB_TASK_H
#define SEQLAB_TASK_H

#include "seqlab/model.h"
#include "seqlab/optspec.h"

/* One batch. Sequence-to-sequence tasks fill src (B, S), inp (B, T) (the
 * teacher-forced decoder input) and tgt (B, T); language-model tasks leave
 * src NULL. A target of -1 is not scored. Regression tasks (series) fill x
 * (B, T, din) and y (B, T, dout) instead, a target of NaN not scored. */
typedef struct sl_batch {
	int B, S, T;
	int32_t *src, *inp, *tgt;
	float *x, *y;
	int din, dout;
	sl_pool *pool; /* for ops->fit: threads a closed-form fit may use (the caller sets it), or NULL */
} sl_batch;

/* One evaluation. */
typedef struct sl_eval {
	int64_t step;
	int64_t epoch;      /* epochs completed when it ran */
	double seconds;     /* the run's training wall time when it ran */
	double train_loss;  /* mean per-token loss since the previous evaluation */
	double val_loss;    /* per-token cross-entropy on held-out data */
	double val_acc;     /* the task's accuracy (Pig-Latin: exact-match words) */
	double cer;         /* character error rate, or NaN when it does not apply */
	int words, correct;
} sl_eval;

/* The wrong answers of an evaluation: input, output, expected. */
typedef struct sl_mistakes {
	int n, cap;
	char **src, **out, **want;
} sl_mistakes;
void sl_mistakes_add(sl_mistakes *m, const char *src, const char *out, const char *want);
void sl_mistakes_clear(sl_mistakes *m);

typedef struct sl_task sl_task;

typedef struct sl_task_ops {
	const char *name;
	/* An epoch's batch plan at batch size bsz, from (seed, epoch). */
	void *(*plan_new)(sl_task *t, int bsz, uint64_t seed, int64_t epoch, int shuffle);
	void (*plan_free)(void *plan);
	int (*plan_batches)(const void *plan);
	/* Batch index of the plan into b; b's arrays belong to b (free with
	 * sl_batch_free). */
	void (*batch)(sl_task *t, const void *plan, int index, sl_batch *b);
	/* The mean training loss of a batch, recorded on tp; *count receives the
	 * number of scored tokens. NULL with the error set if the model cannot
	 * do this task. */
	sl_tensor *(*loss)(sl_task *t, sl_model *m, sl_tape *tp, const sl_batch *b, int *count);
	/* Adds batch b to m's closed-form fit (sl_model_fits), as the task
	 * sees it (a prefix LM's sequence, a series' inputs and targets); NULL:
	 * the task has no such view. SL_ERR with the error set. */
	int (*fit)(sl_task *t, sl_model *m, const sl_batch *b);
	/* Evaluates m on the held-out data: val_loss, val_acc, cer, words,
	 * correct; mistakes (may be NULL) receives the wrong answers. A
	 * regression task's val_loss is the mean squared error (its RMSE the
	 * root, its NRMSE that over the task's target_var), val_acc NaN. */
	void (*eval)(sl_task *t, sl_model *m, sl_tape *tp, sl_eval *e, sl_mistakes *mistakes);
	/* Language tasks with a text vocabulary (may be NULL): text to token
	 * ids (at most max; the count, or -1 with the error set), and ids back
	 * to text (out has n + 1 bytes). */
	int (*encode)(sl_task *t, const char *text, int32_t *out, int max);
	void (*decode)(sl_task *t, const int32_t *tok, int n, char *out);
	/* Image tasks (may be NULL): the side of the square image and its grey
	 * levels (tokens 0..levels-1); returns the start token. */
	int (*image)(sl_task *t, int *side, int *levels);
	void (*free)(sl_task *t);
} sl_task_ops;

struct sl_task {
	const sl_task_ops *ops;
	void *impl;
	sl_model_shape shape;   /* vocabulary and longest sequence, for models */
	char desc[256];         /* how it was made, for `info` and the journal */
	double target_var;      /* regression: the variance of the test targets (NRMSE = RMSE / it); 0 otherwise */
	int refs;               /* runs using it, plus the session while current */
};

/* ---- kinds of task, as table rows ----
 * Each kind is defined in its own file (src/tasks/NAME.c defines
 * sl_task_NAME) and listed by pointer in sl_task_kinds[]: its options (an
 * optspec table over its config struct: default, range, meaning), and how to
 * build a task from a filled config. `task KIND key=value...` parses from the
 * table; the canonical description save and load use is written from it;
 * help, completion and the manual's test walk it. */
typedef struct sl_task_kind {
	const char *name;
	const char *summary;
	const sl_optspec *options;
	size_t cfg_size;
	/* Builds the task from cfg (filled from the table; given has bit i set
	 * when option i was given), drawing its data from seed. May complete cfg
	 * (derived defaults such as maxlen=3L) so that the description written
	 * from it makes the same task again. Writes what the user sees into info
	 * (lines of key=value; a line starting "note: " is a remark). NULL with
	 * the error set; the returned task has no references yet. */
	sl_task *(*create)(void *cfg, uint64_t given, uint64_t seed, char *info, size_t n);
	/* Nonzero if option key belongs in the description of cfg (an option
	 * that does not apply, such as recall's d= with embed=learned, does not).
	 * NULL: every option does. */
	int (*describes)(const void *cfg, const char *key);
	/* The bytes the task would hold, estimated from cfg before anything is
	 * allocated (the session refuses what the machine cannot hold). NULL:
	 * small, or bounded by its files. */
	int64_t (*bytes)(const void *cfg);
} sl_task_kind;

extern const sl_task_kind *const sl_task_kinds[]; /* NULL-terminated */
extern const sl_task_kind sl_task_piglatin, sl_task_recall, sl_task_mqar, sl_task_copy, sl_task_charlm,
	sl_task_pixels, sl_task_series;
/* By name; NULL if none. */
const sl_task_kind *sl_task_kind_find(const char *name);
/* "piglatin, recall, ..." (a thread's static string). */
const char *sl_task_kind_names(void);
/* The kind of task that lists option key, other than `except`; NULL if none. */
const sl_task_kind *sl_task_kind_with_option(const char *key, const sl_task_kind *except);

/* ---- shared by the tasks that draw their batches at random ----
 * A plan of n batches of bsz, each batch index drawn from its own stream
 * of (task seed, "train", run seed, epoch, index): plan_new, plan_free and
 * plan_batches of such tasks; sl_task_plan_rng gives batch index's stream. */
typedef struct sl_task_plan {
	int bsz, n;
	sl_rng rng;
} sl_task_plan;
sl_task_plan *sl_task_plan_new(uint64_t task_seed, int nbatches, int bsz, uint64_t seed, int64_t epoch);
void sl_task_plan_free(void *plan);
int sl_task_plan_batches(const void *plan);
sl_rng sl_task_plan_rng(const sl_task_plan *p, int index);
/* A language model's mean cross-entropy on a batch (inp, tgt (B, T), -1 not
 * scored); NULL with the error set for a model that is not one. */
sl_tensor *sl_task_lm_loss(sl_model *m, sl_tape *tp, const sl_batch *b, int *count);

/* Adds a language model's batch (inp, tgt (B, T)) to m's closed-form fit;
 * SL_ERR with the error set for a model that is not fitted so. */
int sl_task_lm_fit(sl_model *m, const sl_batch *b);

/* Reference counting: runs share tasks. */
void sl_task_ref(sl_task *t);
void sl_task_unref(sl_task *t);

void sl_batch_free(sl_batch *b);

#endif
