/* recall.h - generated sequence tasks for language models: associative
 * recall and induction heads (recall), zoology's multi-query associative
 * recall (mqar) and selective copying (copy), on one shared machinery (a
 * "generated task": no data set, every sequence drawn from a seeded
 * generator).
 *
 * A generated task has a nominal epoch of `batches` batches, each drawn
 * deterministically from (task seed, run seed, epoch, index); a fixed test set
 * of `test` sequences (from the task seed) that eval scores: val_loss is the
 * cross-entropy on the scored positions, val_acc the accuracy of the argmax
 * there, words/correct the counts of scored and correctly predicted tokens,
 * cer NaN. The same model can be scored at other lengths on fresh samples
 * (sl_gen_task_eval_length), for length generalisation. Only language models
 * (model kinds with an lm function) can do them. */
#ifndef SEQLAB_RECALL_H
#define SEQLAB_RECALL_H

#include "seqlab/optspec.h"
#include "seqlab/task.h"

/* ---- the shared machinery ------------------------------------------------- */

typedef struct sl_gen_kind {
	const char *name;
	/* The sequence a model sees for task length len (copy: len + N markers). */
	int (*total)(const void *cfg, int len);
	/* The shortest task length. */
	int (*min_len)(const void *cfg);
	/* One sample of task length len into x and y (total(len) each); y is -1
	 * where nothing is scored. Draws only from r. */
	void (*sample)(const void *cfg, sl_rng *r, int len, int32_t *x, int32_t *y);
} sl_gen_kind;

typedef struct sl_gen_spec {
	const sl_gen_kind *kind;
	const void *cfg;        /* the kind's config (copied, cfg_size bytes) */
	size_t cfg_size;
	int vocab;
	int len;                /* training length */
	int max_len;            /* the longest task length models must take (their positions) */
	int batches;            /* batches in a nominal epoch */
	int test;               /* sequences in the fixed test set */
	uint64_t seed;
	const float *fixed;     /* a fixed input embedding (vocab, fixed_dim) (copied), or NULL */
	int fixed_dim;
	const char *desc;       /* for info and the journal */
} sl_gen_spec;

/* A new task, with no references yet (its holder takes one, sl_task_ref). */
sl_task *sl_gen_task_new(const sl_gen_spec *spec);

/* The longest task length a generated task trains at most at: the rows every
 * generated kind's table ends with, over its config struct T's fields
 * batches, test and maxlen. */
#define SL_GEN_MAX_LEN 100000
#define SL_GEN_OPTIONS(T)                                                                                   \
	{ "batches", SL_OPT_INT, offsetof(T, batches), "100", 1, 1000000, NULL,                              \
	  "batches in a nominal epoch, drawn from the seed" },                                               \
	{ "test", SL_OPT_INT, offsetof(T, test), "256", 1, 100000, NULL, "sequences in the fixed test set" }, \
	{ "maxlen", SL_OPT_INT, offsetof(T, maxlen), "0", 0, 3 * SL_GEN_MAX_LEN, NULL,                        \
	  "the longest length models must take (eval lengths=); 0 = 3L" }
/* The bytes a generated task of spec (kind, cfg, vocab, len, test,
 * fixed_dim) holds: its fixed test set, the fixed embedding (the task's copy
 * and each model's) and a training batch being made. */
int64_t sl_gen_task_bytes(const sl_gen_spec *sp);

/* Resolves *maxlen (0: 3 len; shorter than len is refused) and builds the
 * task from spec (kind, cfg, vocab, len, fixed embedding; batches, test and
 * max_len taken from the arguments). NULL with the error set. */
sl_task *sl_gen_task_make(sl_gen_spec *spec, int batches, int test, int *maxlen, uint64_t seed);
/* The kind of a generated task, or NULL for other tasks. */
const sl_gen_kind *sl_gen_task_kind(const sl_task *t);
/* The task's config (the kind's struct), its lengths (min_len..max_len, the
 * default range of an accuracy-vs-length table) and training length. */
const void *sl_gen_task_config(const sl_task *t);
/* Test sequence i (0 .. test-1) of a generated task: its inputs and targets
 * (-1 where not scored), *T long; NULL if i is out of range. */
const int32_t *sl_gen_task_test(const sl_task *t, int i, const int32_t **y, int *T);
void sl_gen_task_lengths(const sl_task *t, int *lo, int *hi, int *train);
/* Loss and accuracy of m on n fresh sequences of task length len (drawn
 * from the task seed and len, so the same every call). SL_ERR with the error
 * set if len is below the task's shortest or the model cannot take it. */
int sl_gen_task_eval_length(sl_task *t, sl_model *m, sl_tape *tp, int len, int n, double *acc, double *loss);

/* ---- recall: AR(K, d, M, L, tau) ----------------------------------------------
 * Tokens 0..K-1; queries the first M. One sequence of length L: the query q
 * (uniform over the M) at the last position and once more at i, uniform in
 * [0, L-tau-2]; the value v, uniform over the other K-1 tokens, at i + tau;
 * every other position uniform over the K-1 tokens other than q. Scored at
 * the last position only, where the label is v. M = 1 is the induction-head
 * task. The shortest sequence is tau + 2. */

enum { SL_RECALL_FIXED, SL_RECALL_LEARNED };

typedef struct sl_recall_config {
	int K, d, M, L, tau;
	int embed;              /* SL_RECALL_FIXED or SL_RECALL_LEARNED */
	int batches, test, maxlen;
} sl_recall_config;

extern const sl_gen_kind sl_recall_kind;
void sl_recall_sample(const sl_recall_config *c, sl_rng *r, int len, int32_t *x, int32_t *y);
/* The homework's fixed embedding: numpy.random.seed(0); V = randn(K, d);
 * V /= norm of each row (numpy's pairwise summation), as float32, into
 * V (K * d floats). Bit-identical to numpy. */
void sl_recall_fixed_embed(int K, int d, float *V);

/* ---- mqar: zoology's multi-query associative recall -------------------------
 * Vocabulary V, length L (even), P key-value pairs. Keys: P distinct tokens
 * of [1, V/2), values: P distinct of [V/2, V); the sequence starts k0 v0 k1
 * v1 ...; then each key is queried once, key j at position 2P + 2 g_j with
 * the gaps g_j distinct in [0, (L - 2P)/2), drawn without replacement with
 * probability proportional to (g+1)^(power_a - 1); the value is the label at
 * the query's position. Every other position (with noise on) is uniform over
 * [0, V), else 0. Needs 4P <= L < V (zoology's asserts). */

typedef struct sl_mqar_config {
	int vocab, L, pairs;
	float power_a;
	int noise;
	int batches, test, maxlen;
} sl_mqar_config;

extern const sl_gen_kind sl_mqar_kind;
void sl_mqar_sample(const sl_mqar_config *c, sl_rng *r, int len, int32_t *x, int32_t *y);
/* The sequence and labels for given keys, values and gaps (P each) at
 * length len, with 0 where noise would go: zoology's layout, for tests. */
void sl_mqar_build(int pairs, int len, const int32_t *keys, const int32_t *vals, const int *gaps, int32_t *x,
		   int32_t *y);

/* ---- copy: selective copying (the Mamba paper, figure 2) ---------------------
 * Data tokens 0..A-1, noise A, marker A+1 (vocabulary A+2). A region of L
 * positions holds N data tokens (uniform) at N distinct random positions, in
 * order, and noise elsewhere; N markers follow. At the k-th marker the model
 * outputs the k-th data token (scored there only). Sequence L + N. */

typedef struct sl_copy_config {
	int L, N, A;
	int batches, test, maxlen;
} sl_copy_config;

extern const sl_gen_kind sl_copy_kind;
void sl_copy_sample(const sl_copy_config *c, sl_rng *r, int len, int32_t *x, int32_t *y);

#endif
