/* recall.c - generated tasks (plans, batches, loss, evaluation, accuracy at
 * any length), and associative recall / induction heads on them. */
#include "seqlab/recall.h"
#include "seqlab/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- generated tasks ------------------------------------------------------- */

typedef struct gen_task {
	const sl_gen_kind *kind;
	void *cfg;
	int vocab, len, max_len, batches, ntest;
	uint64_t seed;
	float *fixed;            /* (vocab, fixed_dim) or NULL */
	int32_t *test_x, *test_y; /* (ntest, test_T) */
	int test_T;
} gen_task;

/* Sequences at most this many a forward pass during evaluation. */
#define EVAL_CHUNK 256

static const sl_task_ops gen_ops;

static void *gen_plan_new(sl_task *t, int bsz, uint64_t seed, int64_t epoch, int shuffle)
{
	(void)shuffle;
	const gen_task *g = t->impl;
	return sl_task_plan_new(g->seed, g->batches, bsz, seed, epoch);
}

/* n sequences of task length len from r into a batch */
static void fill(const gen_task *g, sl_rng *r, int n, int len, sl_batch *b)
{
	memset(b, 0, sizeof *b);
	int T = g->kind->total(g->cfg, len);
	b->B = n;
	b->S = 0;
	b->T = T;
	b->src = NULL;
	b->inp = sl_xmalloc((size_t)n * T * sizeof(int32_t));
	b->tgt = sl_xmalloc((size_t)n * T * sizeof(int32_t));
	for (int i = 0; i < n; i++)
		g->kind->sample(g->cfg, r, len, b->inp + (size_t)i * T, b->tgt + (size_t)i * T);
}

static void gen_batch(sl_task *t, const void *plan, int index, sl_batch *b)
{
	const sl_task_plan *p = plan;
	sl_rng r = sl_task_plan_rng(p, index);
	fill(t->impl, &r, p->bsz, ((gen_task *)t->impl)->len, b);
}

/* logits for a batch, or NULL with the error set */
static sl_tensor *forward(sl_model *m, sl_tape *tp, const sl_batch *b)
{
	if (!m->kind->lm) {
		sl_errorf("a %s cannot do this task: it needs a language model (%s)", m->kind->name, sl_model_kind_names(1));
		return NULL;
	}
	return m->kind->lm(m->impl, tp, b->inp, b->B, b->T);
}

static int gen_fit(sl_task *t, sl_model *m, const sl_batch *b)
{
	(void)t;
	return sl_task_lm_fit(m, b);
}

static sl_tensor *gen_loss(sl_task *t, sl_model *m, sl_tape *tp, const sl_batch *b, int *count)
{
	(void)t;
	return sl_task_lm_loss(m, tp, b, count);
}

#define MISTAKES_MAX 1000 /* wrong positions kept for `mistakes` */

/* A wrong answer at position pos of sequence seq (inp: its T tokens) into mk:
 * "sequence=S position=P input=T0.T1...", the output and the expected token. */
static void add_mistake(sl_mistakes *mk, int seq, int pos, const int32_t *inp, int T, int out, int want)
{
	size_t cap = 64 + (size_t)T * 12, n;
	char *src = sl_xmalloc(cap), o[16], w[16];
	n = (size_t)snprintf(src, cap, "sequence=%d position=%d input=", seq, pos);
	for (int i = 0; i < T && n < cap; i++)
		n += (size_t)snprintf(src + n, cap - n, "%s%d", i ? "." : "", (int)inp[i]);
	snprintf(o, sizeof o, "%d", out);
	snprintf(w, sizeof w, "%d", want);
	sl_mistakes_add(mk, src, o, w);
	free(src);
}

/* Scores m on the batch (in chunks, gradients off): adds the loss sum, the
 * scored and the correct counts, and the wrong answers to mk (if not NULL,
 * at most MISTAKES_MAX). SL_ERR with the error set if the model cannot take
 * it. */
static int score(const gen_task *g, sl_model *m, sl_tape *tp, const sl_batch *b, double *loss_sum, long *scored,
		 long *correct, sl_mistakes *mk)
{
	int ge = tp->grad_enabled, tr = tp->training, st = SL_OK;
	for (int at = 0; at < b->B && st == SL_OK; at += EVAL_CHUNK) {
		sl_batch c = { .B = SL_MIN(EVAL_CHUNK, b->B - at), .T = b->T };
		c.inp = b->inp + (size_t)at * b->T;
		c.tgt = b->tgt + (size_t)at * b->T;
		sl_tape_reset(tp);
		tp->grad_enabled = 0;
		tp->training = 0;
		sl_tensor *logits = forward(m, tp, &c);
		if (!logits) {
			st = SL_ERR;
			break;
		}
		int count = 0;
		sl_tensor *loss = sl_cross_entropy(tp, logits, c.tgt, -1, &count);
		*loss_sum += (double)loss->data[0] * count;
		for (size_t i = 0; i < (size_t)c.B * c.T; i++) {
			if (c.tgt[i] < 0)
				continue;
			(*scored)++;
			int out = sl_argmax(logits->data + i * g->vocab, g->vocab);
			*correct += out == c.tgt[i];
			if (out != c.tgt[i] && mk && mk->n < MISTAKES_MAX)
				add_mistake(mk, at + (int)(i / (size_t)c.T), (int)(i % (size_t)c.T),
					    c.inp + i / (size_t)c.T * (size_t)c.T, c.T, out, c.tgt[i]);
		}
	}
	sl_tape_reset(tp);
	tp->grad_enabled = ge;
	tp->training = tr;
	return st;
}

static void gen_eval(sl_task *t, sl_model *m, sl_tape *tp, sl_eval *e, sl_mistakes *mk)
{
	gen_task *g = t->impl;
	sl_batch b = { .B = g->ntest, .T = g->test_T, .inp = g->test_x, .tgt = g->test_y };
	double loss_sum = 0;
	long scored = 0, correct = 0;
	int st = score(g, m, tp, &b, &loss_sum, &scored, &correct, mk);
	e->val_loss = st == SL_OK && scored ? loss_sum / scored : NAN;
	e->val_acc = st == SL_OK && scored ? (double)correct / scored : NAN;
	e->cer = NAN;
	e->words = (int)scored;
	e->correct = (int)correct;
}

static void gen_free(sl_task *t)
{
	gen_task *g = t->impl;
	free(g->cfg);
	free(g->fixed);
	free(g->test_x);
	free(g->test_y);
	free(g);
	free(t);
}

static const sl_task_ops gen_ops = {
	.name = "generated",
	.plan_new = gen_plan_new,
	.plan_free = sl_task_plan_free,
	.plan_batches = sl_task_plan_batches,
	.batch = gen_batch,
	.fit = gen_fit,
	.loss = gen_loss,
	.eval = gen_eval,
	.free = gen_free,
};

sl_task *sl_gen_task_new(const sl_gen_spec *spec)
{
	SL_ASSERT(spec->kind && spec->batches >= 1 && spec->test >= 1 && spec->vocab >= 1);
	SL_ASSERT(spec->len >= spec->kind->min_len(spec->cfg) && spec->max_len >= spec->len);
	gen_task *g = sl_xcalloc(1, sizeof *g);
	g->kind = spec->kind;
	g->cfg = sl_xmalloc(spec->cfg_size);
	memcpy(g->cfg, spec->cfg, spec->cfg_size);
	g->vocab = spec->vocab;
	g->len = spec->len;
	g->max_len = spec->max_len;
	g->batches = spec->batches;
	g->ntest = spec->test;
	g->seed = spec->seed;
	sl_task *t = sl_xcalloc(1, sizeof *t);
	t->ops = &gen_ops;
	t->impl = g;
	t->shape.vocab = spec->vocab;
	t->shape.maxlen = spec->kind->total(spec->cfg, spec->max_len);
	if (spec->fixed) {
		size_t n = (size_t)spec->vocab * spec->fixed_dim;
		g->fixed = sl_xmalloc(n * sizeof(float));
		memcpy(g->fixed, spec->fixed, n * sizeof(float));
		t->shape.fixed_embed = g->fixed;
		t->shape.fixed_dim = spec->fixed_dim;
	}
	/* the test set: fixed by the task seed */
	sl_rng root;
	sl_rng_seed(&root, spec->seed);
	sl_rng r = sl_rng_split_str(&root, "test");
	sl_batch b;
	fill(g, &r, g->ntest, g->len, &b);
	g->test_x = b.inp;
	g->test_y = b.tgt;
	g->test_T = b.T;
	snprintf(t->desc, sizeof t->desc, "%s", spec->desc ? spec->desc : spec->kind->name);
	t->refs = 0;
	return t;
}

int64_t sl_gen_task_bytes(const sl_gen_spec *sp)
{
	double T = sp->kind->total(sp->cfg, sp->len);
	double b = (double)sp->test * T * 8 + (double)sp->vocab * sp->fixed_dim * 4 * 3 + 64 * T * 8;
	return b < 9e18 ? (int64_t)b : INT64_MAX;
}

sl_task *sl_gen_task_make(sl_gen_spec *spec, int batches, int test, int *maxlen, uint64_t seed)
{
	if (!*maxlen)
		*maxlen = 3 * spec->len;
	if (*maxlen < spec->len) {
		sl_errorf("maxlen=%d is shorter than the training length L=%d", *maxlen, spec->len);
		return NULL;
	}
	spec->batches = batches;
	spec->test = test;
	spec->max_len = *maxlen;
	spec->seed = seed;
	return sl_gen_task_new(spec);
}

const sl_gen_kind *sl_gen_task_kind(const sl_task *t)
{
	return t && t->ops == &gen_ops ? ((const gen_task *)t->impl)->kind : NULL;
}

const int32_t *sl_gen_task_test(const sl_task *t, int i, const int32_t **y, int *T)
{
	const gen_task *g = t->impl;
	if (!sl_gen_task_kind(t) || i < 0 || i >= g->ntest)
		return NULL;
	*T = g->test_T;
	*y = g->test_y + (size_t)i * g->test_T;
	return g->test_x + (size_t)i * g->test_T;
}

const void *sl_gen_task_config(const sl_task *t)
{
	SL_ASSERT(sl_gen_task_kind(t));
	return ((const gen_task *)t->impl)->cfg;
}

void sl_gen_task_lengths(const sl_task *t, int *lo, int *hi, int *train)
{
	SL_ASSERT(sl_gen_task_kind(t));
	const gen_task *g = t->impl;
	*lo = g->kind->min_len(g->cfg);
	*hi = g->max_len;
	*train = g->len;
}

int sl_gen_task_eval_length(sl_task *t, sl_model *m, sl_tape *tp, int len, int n, double *acc, double *loss)
{
	SL_ASSERT(sl_gen_task_kind(t) && n >= 1);
	gen_task *g = t->impl;
	int lo = g->kind->min_len(g->cfg);
	if (len < lo) {
		sl_errorf("length %d is below the task's shortest (%d)", len, lo);
		return SL_ERR;
	}
	sl_rng root;
	sl_rng_seed(&root, g->seed);
	sl_rng r = sl_rng_split_str(&root, "length");
	r = sl_rng_split(&r, (uint64_t)len);
	sl_batch b;
	fill(g, &r, n, len, &b);
	double loss_sum = 0;
	long scored = 0, correct = 0;
	int st = score(g, m, tp, &b, &loss_sum, &scored, &correct, NULL);
	sl_batch_free(&b);
	if (st != SL_OK)
		return SL_ERR;
	*acc = scored ? (double)correct / scored : NAN;
	*loss = scored ? loss_sum / scored : NAN;
	return SL_OK;
}

/* ---- recall ------------------------------------------------------------------ */

/* uniform over [0, K) without `skip` */
static int32_t other(sl_rng *r, int K, int32_t skip)
{
	int32_t v = (int32_t)sl_rng_below(r, (uint32_t)(K - 1));
	return v >= skip ? v + 1 : v;
}

void sl_recall_sample(const sl_recall_config *c, sl_rng *r, int len, int32_t *x, int32_t *y)
{
	SL_ASSERT(len >= c->tau + 2 && c->K >= 2 && c->M >= 1 && c->M <= c->K);
	int32_t q = (int32_t)sl_rng_below(r, (uint32_t)c->M);
	int i = (int)sl_rng_below(r, (uint32_t)(len - c->tau - 1)); /* [0, len - tau - 2] */
	int32_t v = other(r, c->K, q);
	for (int p = 0; p < len; p++) {
		y[p] = -1;
		x[p] = p == len - 1 || p == i ? q : p == i + c->tau ? v : other(r, c->K, q);
	}
	y[len - 1] = v;
}

static int recall_total(const void *cfg, int len)
{
	(void)cfg;
	return len;
}

static int recall_min(const void *cfg)
{
	return ((const sl_recall_config *)cfg)->tau + 2;
}

static void recall_sample(const void *cfg, sl_rng *r, int len, int32_t *x, int32_t *y)
{
	sl_recall_sample(cfg, r, len, x, y);
}

const sl_gen_kind sl_recall_kind = {
	.name = "recall",
	.total = recall_total,
	.min_len = recall_min,
	.sample = recall_sample,
};

/* numpy's pairwise summation (umath loops: blocks of 8 accumulators up to
 * 128 elements, halves above), so a row norm has numpy's bits */
static double pairwise_sum(const double *a, int n)
{
	if (n < 8) {
		double s = 0;
		for (int i = 0; i < n; i++)
			s += a[i];
		return s;
	}
	if (n <= 128) {
		double r[8];
		int i;
		for (int j = 0; j < 8; j++)
			r[j] = a[j];
		for (i = 8; i < n - n % 8; i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += a[i + j];
		double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			s += a[i];
		return s;
	}
	int h = n / 2;
	h -= h % 8;
	return pairwise_sum(a, h) + pairwise_sum(a + h, n - h);
}

void sl_recall_fixed_embed(int K, int d, float *V)
{
	sl_mt19937 mt;
	sl_mt_seed(&mt, 0);
	double *row = sl_xmalloc((size_t)d * sizeof *row), *sq = sl_xmalloc((size_t)d * sizeof *sq);
	for (int k = 0; k < K; k++) {
		for (int j = 0; j < d; j++) {
			row[j] = sl_mt_gauss(&mt);
			sq[j] = row[j] * row[j];
		}
		double norm = sqrt(pairwise_sum(sq, d));
		for (int j = 0; j < d; j++)
			V[(size_t)k * d + j] = (float)(row[j] / norm);
	}
	free(row);
	free(sq);
}

/* ---- the task kind ---------------------------------------------------------------- */

static const char *const embed_names[] = { "fixed", "learned", NULL };

#define OFF(f) offsetof(sl_recall_config, f)
static const sl_optspec recall_options[] = {
	{ "K", SL_OPT_INT, OFF(K), "16", 2, 65536, NULL, "tokens 0..K-1 (the vocabulary)" },
	{ "d", SL_OPT_INT, OFF(d), "8", 1, 4096, NULL, "the fixed embedding's width (embed=fixed)" },
	{ "M", SL_OPT_INT, OFF(M), "1", 1, 65536, NULL, "queries: the first M tokens (M=1: induction heads)" },
	{ "L", SL_OPT_INT, OFF(L), "64", 3, SL_GEN_MAX_LEN, NULL, "training sequence length" },
	{ "tau", SL_OPT_INT, OFF(tau), "1", 1, SL_GEN_MAX_LEN, NULL, "the value's distance after the query's first occurrence" },
	{ "embed", SL_OPT_ENUM, OFF(embed), "fixed", 0, 0, embed_names,
	  "fixed: numpy's seed-0 unit-norm K x d vectors, untrained; learned: the model's own" },
	SL_GEN_OPTIONS(sl_recall_config),
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

static sl_task *recall_create(void *cfg, uint64_t given, uint64_t seed, char *info, size_t n)
{
	sl_recall_config *c = cfg;
	if (c->M > c->K) {
		sl_errorf("M=%d exceeds K=%d (the queries are the first M tokens)", c->M, c->K);
		return NULL;
	}
	if (c->L < c->tau + 2) {
		sl_errorf("L=%d is too short for tau=%d (at least tau+2)", c->L, c->tau);
		return NULL;
	}
	if ((given & 2) && c->embed == SL_RECALL_LEARNED) { /* d= (row 1) */
		sl_errorf("d= sets the fixed embedding's width; with embed=learned the model's hidden= does");
		return NULL;
	}
	float *V = NULL;
	if (c->embed == SL_RECALL_FIXED) {
		V = sl_xmalloc((size_t)c->K * c->d * sizeof *V);
		sl_recall_fixed_embed(c->K, c->d, V);
	}
	sl_gen_spec sp = { .kind = &sl_recall_kind, .cfg = c, .cfg_size = sizeof *c, .vocab = c->K, .len = c->L,
			   .fixed = V, .fixed_dim = c->d };
	sl_task *t = sl_gen_task_make(&sp, c->batches, c->test, &c->maxlen, seed);
	free(V);
	if (!t)
		return NULL;
	char dpart[32] = "";
	if (c->embed == SL_RECALL_FIXED)
		snprintf(dpart, sizeof dpart, " d=%d", c->d);
	snprintf(info, n, "task=recall K=%d%s M=%d L=%d tau=%d embed=%s vocab=%d lengths=%d..%d batches=%d test=%d "
		 "seed=%llu", c->K, dpart, c->M, c->L, c->tau, embed_names[c->embed], c->K, c->tau + 2, c->maxlen,
		 c->batches, c->test, (unsigned long long)seed);
	return t;
}

static int64_t recall_bytes(const void *cfg)
{
	const sl_recall_config *c = cfg;
	sl_gen_spec sp = { .kind = &sl_recall_kind, .cfg = c, .vocab = c->K, .len = c->L, .test = c->test,
			   .fixed_dim = c->embed == SL_RECALL_FIXED ? c->d : 0 };
	return sl_gen_task_bytes(&sp);
}

static int recall_describes(const void *cfg, const char *key)
{
	const sl_recall_config *c = cfg;
	return strcmp(key, "d") != 0 || c->embed == SL_RECALL_FIXED;
}

const sl_task_kind sl_task_recall = {
	.name = "recall",
	.summary = "associative recall and induction heads: the value after the query's first occurrence",
	.options = recall_options,
	.cfg_size = sizeof(sl_recall_config),
	.create = recall_create,
	.describes = recall_describes,
	.bytes = recall_bytes,
};
