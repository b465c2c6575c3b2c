/* bench_models.c - the seqlab side of the benchmark harness and of the
 * PyTorch cross-check (bench/torch_ref.py, bench/run.sh, DESIGN.md section 7).
 *
 * For a benchmark configuration (-m) and a seed it builds the model, writes
 * its initial parameters and the fixed sequence of training batches it will
 * use, then
 *
 *   check  runs K training steps and writes the per-step losses, the global
 *          gradient norms, every gradient of step 1 (before clipping) and the
 *          parameters after step K, for torch_ref.py --check to compare;
 *   time   times S training steps (after W warm-up steps) through sl_run_step,
 *          then (Pig-Latin) `translate` of NT validation words one at a time,
 *          and prints one key=value line: words/s, ms/step, ms/word, peak
 *          RSS, FLOPs;
 *   shapes prints the sgemm calls of those S steps (for bench/sgemm_rate) and
 *          the FLOPs per word, without training;
 *   blas   prints core=the OpenBLAS kernels in use (OPENBLAS_CORETYPE).
 *
 *   bench_models blas | check|time|shapes [-m MODEL] [-o DIR] [-n STEPS] [-w WARMUP]
 *                [-S SEED] [-j THREADS] [-p small|large] [-b BATCH]
 *                [-l LR] [-d WD] [-c CLIP] [-t NWORDS] [-f WORDLIST] [key=value options...]
 *
 * The configurations (MODEL):
 *   transformer   Pig-Latin, `transformer` with its defaults
 *   mamba         Pig-Latin, `mamba` with its defaults (a prefix LM)
 *   gpt           recall (seed 004), `task recall K=16 d=64 M=1 L=64 tau=1`,
 *                 `gpt layers=2 mlp=0 hidden=64 heads=1 pe=learned`
 *   recall-mamba  the same recall task, `mamba layers=2 hidden=64`
 *   rnn           Pig-Latin, `rnn` with its defaults (GRU, additive attention,
 *                 hidden 64), against nn.GRU and nn.GRUCell with the attention
 *                 written out
 *   gru, lstm     Pig-Latin, the `gru` / `lstm` stacks with their defaults
 *                 (hidden 64, 2 blocks; prefix LMs), against nn.GRU / nn.LSTM
 *   s4d, lru, hawk  the same recall task as gpt's, `s4d|lru|hawk layers=2 hidden=64`
 *   griffin       the same recall task, `griffin pattern=RA hidden=64` (an
 *                 RG-LRU block under a local attention block: window 64,
 *                 RoPE, MLPs 3x, the preset's defaults)
 *   gpt-linear    the same recall task, the gpt above with attn=linear
 * key=value options go to the model over those defaults, except recall's
 * task options K d M L tau embed, which go to the task (e.g. `d=16
 * hidden=16`). The recall task is built as `task recall` builds it (100
 * batches an epoch, a test set of 256, maxlen 3L, seeded with -S), and
 * trained through its loss (cross-entropy at the last position only); a
 * "word" is then one sequence of L tokens. -p, -t and -f apply to Pig-Latin.
 *
 * Files (DIR, default "."): init.safetensors (the parameters, as
 * sl_safetensors_save_params writes them; metadata: the model spec, the
 * optimizer settings, the parameters without weight decay, the parameter
 * groups' learning rates (lr_scale: "name=factor,..." for every tensor whose
 * lr is not the run's, its lr_scale and lr_cap applied at the run's lr), the
 * task),
 * data.safetensors (batches 0..n-1 as I32 tensors src.NNNN (B, S) (Pig-Latin
 * only), inp.NNNN (B, T), tgt.NNNN (B, T) (-1 where not scored); for the
 * Transformer the sinusoid table "sin"; for recall with embed=fixed the
 * fixed embedding "embed" (K, d); metadata "translate": the NWORDS validation
 * words `translate` is timed on), and for check seqlab.safetensors (loss (K),
 * grad_norm (K), grad.NAME, param.NAME).
 * Defaults: -m transformer -o . -n 5 -w 3 -S 0 -j 1 -p large -b 64 -l 3e-3
 * -d 0.01 -c 1 -t 100 -f /usr/share/dict/words.
 *
 * The batches are those a run (sl_run) draws: the Pig-Latin data built from
 * the word list with the seed, the training plan of epoch 0, 1, ... shuffled
 * from the seed, in order; recall's seeded batches of epoch 0, 1, ... AdamW
 * with a constant learning rate. */
#include "seqlab/model.h"
#include "seqlab/piglatin.h"
#include "seqlab/recall.h"
#include "seqlab/run.h"
#include "seqlab/safetensors.h"
#include "seqlab/transformer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXKV 32

/* A benchmark configuration: a model kind with default options, on the
 * Pig-Latin task or on recall. */
typedef struct bench_config {
	const char *name, *kind;
	int recall;
	const char *defaults; /* model options, before the command line's */
} bench_config;

static const bench_config configs[] = {
	{ "transformer", "transformer", 0, "" },
	{ "mamba", "mamba", 0, "" },
	{ "gpt", "gpt", 1, "layers=2 mlp=0 hidden=64 heads=1 pe=learned" },
	{ "recall-mamba", "mamba", 1, "layers=2 hidden=64" },
	{ "rnn", "rnn", 0, "" },
	{ "gru", "gru", 0, "" },
	{ "lstm", "lstm", 0, "" },
	{ "s4d", "s4d", 1, "layers=2 hidden=64" },
	{ "lru", "lru", 1, "layers=2 hidden=64" },
	{ "hawk", "hawk", 1, "layers=2 hidden=64" },
	{ "griffin", "griffin", 1, "pattern=RA hidden=64" },
	{ "gpt-linear", "gpt", 1, "layers=2 mlp=0 hidden=64 heads=1 pe=learned attn=linear" },
};

/* the recall task of the recall configurations (seed 004, Problem 3's width) */
#define RECALL_TASK "K=16 d=64 M=1 L=64 tau=1"
/* recall's task options; the other key=value options go to the model */
static const char *const recall_keys[] = { "K", "d", "M", "L", "tau", "embed", NULL };

typedef struct opts {
	const char *mode, *model, *dir, *preset, *words;
	const bench_config *cfg;
	int steps, warmup, threads, bsz, nwords;
	uint64_t seed;
	double lr, wd, clip;
	const char *keys[MAXKV], *vals[MAXKV];      /* model options */
	int nkv;
	const char *tkeys[MAXKV], *tvals[MAXKV];    /* task options (recall) */
	int ntkv;
	char task_spec[256];                        /* recall: "recall K=16 d=64 ..." */
} opts;

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_models check|time|shapes [-m MODEL] [-o DIR] [-n STEPS]\n"
			"                    [-w WARMUP] [-S SEED] [-j THREADS] [-p small|large] [-b BATCH] [-l LR]\n"
			"                    [-d WD] [-c CLIP] [-t NWORDS] [-f WORDLIST] [key=value options...]\n"
			"       bench_models blas\n"
			"models: transformer, mamba, rnn, gru, lstm (Pig-Latin); gpt, recall-mamba, s4d, lru, hawk,\n"
			"        griffin, gpt-linear (recall " RECALL_TASK ";\n"
			"        its task options K d M L tau embed, e.g. d=16 hidden=16; -p -t -f do not apply)\n");
}

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "bench_models: %s%s%s\n", what, *sl_error() ? ": " : "", sl_error());
	exit(1);
}

/* ---- the batch sequence ------------------------------------------------------ */

/* Walks the plans of epochs 0, 1, ... as sl_run_step does. */
typedef struct batch_seq {
	sl_task *task;
	int bsz;
	uint64_t seed;
	int64_t epoch;
	int next;
	void *plan;
} batch_seq;

static void seq_next(batch_seq *q, sl_batch *b)
{
	const sl_task_ops *ops = q->task->ops;
	if (!q->plan)
		q->plan = ops->plan_new(q->task, q->bsz, q->seed, q->epoch, 1);
	ops->batch(q->task, q->plan, q->next, b);
	if (++q->next >= ops->plan_batches(q->plan)) {
		ops->plan_free(q->plan);
		q->plan = NULL;
		q->next = 0;
		q->epoch++;
	}
}

static void seq_free(batch_seq *q)
{
	if (q->plan)
		q->task->ops->plan_free(q->plan);
	q->plan = NULL;
}

/* ---- FLOPs and sgemm shapes ---------------------------------------------------- */

/* Matrix-product work of one training step on a batch: every linear layer
 * (R rows, I in, O out) costs 2 R I O FLOPs forward and twice that backward
 * (dx and dW); the attention products (scores Q K^T and the weighted sum
 * P V, counted dense, 2 Tq Tk Dh each per head) the same 3x. Norms,
 * activations, softmax, scans and the loss are not counted. */
typedef struct work {
	double linear, attn; /* FLOPs */
	FILE *shapes;        /* if set, the sgemm calls: "ta tb M N K" lines */
} work;

static void lin(work *w, double R, int I, int O)
{
	w->linear += 6.0 * R * I * O;
	if (w->shapes) {
		/* op_linear.c: y = x W^T, dx = dy W, dW = dy^T x */
		fprintf(w->shapes, "0 1 %.0f %d %d\n", R, O, I);
		fprintf(w->shapes, "0 0 %.0f %d %d\n", R, I, O);
		fprintf(w->shapes, "1 0 %d %d %.0f\n", O, I, R);
	}
}

static void lin_cb(void *ud, double rows, int in, int out)
{
	lin(ud, rows, in, out);
}

/* One step's work on batch b for model m, from its kind's own count (the
 * kind asks its blocks); recall: a language model on the whole sequence
 * (inp, T tokens). */
static void step_work(const sl_model *m, const sl_batch *b, int recall, work *w)
{
	sl_work k = { .lin = lin_cb, .ud = w };
	m->kind->work(m->impl, b->B, recall ? 0 : b->S, b->T, &k);
	w->attn += k.other;
}

/* ---- files ----------------------------------------------------------------------- */

static char *path_in(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = sl_xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* init.safetensors: the initial parameters with the run's settings. */
static void write_init(const opts *o, const sl_model *m, const char *dir)
{
	char spec[2048], s_lr[32], s_wd[32], s_clip[32], s_seed[32], s_bsz[16], s_b1[32], s_b2[32], s_eps[32];
	sl_model_spec(m, spec, sizeof spec);
	sl_optim_config oc = sl_optim_defaults(SL_OPTIM_ADAMW);
	snprintf(s_lr, sizeof s_lr, "%.9g", o->lr);
	snprintf(s_wd, sizeof s_wd, "%.9g", o->wd);
	snprintf(s_clip, sizeof s_clip, "%.9g", o->clip);
	snprintf(s_b1, sizeof s_b1, "%.9g", oc.beta1);
	snprintf(s_b2, sizeof s_b2, "%.9g", oc.beta2);
	snprintf(s_eps, sizeof s_eps, "%.9g", oc.eps);
	snprintf(s_seed, sizeof s_seed, "%llu", (unsigned long long)o->seed);
	snprintf(s_bsz, sizeof s_bsz, "%d", o->bsz);
	/* the parameters excluded from weight decay, comma-separated */
	size_t cap = 1, k = 0;
	for (int i = 0; i < m->ps->n; i++)
		cap += strlen(m->ps->t[i]->name) + 1;
	char *nd = sl_xcalloc(cap, 1);
	for (int i = 0; i < m->ps->n; i++)
		if (m->ps->flags[i] & SL_PARAM_NO_DECAY)
			k += (size_t)snprintf(nd + k, cap - k, "%s%s", k ? "," : "", m->ps->t[i]->name);
	/* the tensors in a group with another lr (the LRU's half rate, S4D's cap),
	 * as the optimizer applies them (optim.c: lr x scale, at most cap) */
	char *lrs = sl_xcalloc(cap + (size_t)m->ps->n * 24, 1);
	k = 0;
	for (int i = 0; i < m->ps->n; i++) {
		float sc = m->ps->lr_scale[i], lcap = m->ps->lr_cap[i], lr = (float)o->lr;
		if (lcap > 0.0f && lr * sc > lcap)
			sc = lcap / lr;
		if (sc != 1.0f)
			k += (size_t)sprintf(lrs + k, "%s%s=%.9g", k ? "," : "", m->ps->t[i]->name, sc);
	}
	sl_safetensors_meta meta[] = {
		{ "model", spec }, { "optim", "adamw" }, { "lr", s_lr }, { "weight_decay", s_wd },
		{ "clip", s_clip }, { "beta1", s_b1 }, { "beta2", s_b2 }, { "eps", s_eps },
		{ "seed", s_seed }, { "batch", s_bsz }, { "preset", o->cfg->recall ? "" : o->preset },
		{ "no_decay", nd }, { "lr_scale", lrs }, { "task", o->task_spec }, { "bench", o->cfg->name },
	};
	char *p = path_in(dir, "init.safetensors");
	if (sl_safetensors_save_params(p, m->ps, meta, (int)SL_COUNT(meta)) != SL_OK)
		die("writing the initial parameters");
	free(p);
	free(nd);
	free(lrs);
}

/* The first n validation words (fewer if there are fewer); free the array. */
static const char **translate_words(const sl_pl_data *d, int n, int *count)
{
	const char **w = sl_xcalloc((size_t)(n > 0 ? n : 1), sizeof *w);
	*count = 0;
	for (int i = 0; i < d->n && *count < n; i++)
		if (d->split[i] == 1)
			w[(*count)++] = d->src[i];
	return w;
}

/* data.safetensors: batches 0..n-1, the sinusoid table (Transformer), the
 * fixed embedding (recall, embed=fixed), and the words `translate` is timed
 * on (Pig-Latin). */
static void write_data(const sl_model *m, sl_task *task, const opts *o, int n, const char *dir)
{
	int cap = 3 * n + 2, k = 0;
	sl_safetensors_tensor *t = sl_xcalloc((size_t)cap, sizeof *t);
	sl_batch *bs = sl_xcalloc((size_t)n, sizeof *bs);
	char (*names)[32] = sl_xcalloc((size_t)cap, sizeof *names);
	batch_seq q = { .task = task, .bsz = o->bsz, .seed = o->seed };
	for (int i = 0; i < n; i++) {
		seq_next(&q, &bs[i]);
		const char *what[3] = { "src", "inp", "tgt" };
		int32_t *arr[3] = { bs[i].src, bs[i].inp, bs[i].tgt };
		int len[3] = { bs[i].S, bs[i].T, bs[i].T };
		for (int j = 0; j < 3; j++) {
			if (!arr[j]) /* a language-model task has no source */
				continue;
			snprintf(names[k], sizeof names[k], "%s.%04d", what[j], i);
			t[k] = (sl_safetensors_tensor){ .name = names[k], .dtype = SL_ST_I32, .ndim = 2,
							.shape = { bs[i].B, len[j] }, .data = arr[j] };
			k++;
		}
	}
	seq_free(&q);
	if (strcmp(m->kind->name, "transformer") == 0) {
		const sl_transformer *tf = m->impl;
		t[k++] = sl_safetensors_tensor_of(&tf->sin_src, "sin");
	}
	if (task->shape.fixed_embed)
		t[k++] = (sl_safetensors_tensor){ .name = "embed", .dtype = SL_ST_F32, .ndim = 2,
						  .shape = { task->shape.vocab, task->shape.fixed_dim },
						  .data = task->shape.fixed_embed };
	char sn[16];
	snprintf(sn, sizeof sn, "%d", n);
	/* the words `translate` is timed on, space-separated */
	size_t wcap = 1, len = 0;
	int nt = 0;
	const char **tw = o->cfg->recall ? NULL : translate_words(sl_pl_task_data(task), o->nwords, &nt);
	for (int i = 0; i < nt; i++)
		wcap += strlen(tw[i]) + 1;
	char *words = sl_xcalloc(wcap, 1);
	for (int i = 0; i < nt; i++)
		len += (size_t)snprintf(words + len, wcap - len, "%s%s", i ? " " : "", tw[i]);
	sl_safetensors_meta meta[] = { { "batches", sn }, { "translate", words } };
	char *p = path_in(dir, "data.safetensors");
	if (sl_safetensors_write(p, t, k, meta, (int)SL_COUNT(meta)) != SL_OK)
		die("writing the batches");
	free(p);
	free(words);
	free(tw);
	for (int i = 0; i < n; i++)
		sl_batch_free(&bs[i]);
	free(bs);
	free(t);
	free(names);
}

/* ---- modes ----------------------------------------------------------------------- */

static sl_optim_config optim_config(const opts *o)
{
	sl_optim_config oc = sl_optim_defaults(SL_OPTIM_ADAMW);
	oc.lr = (float)o->lr;
	oc.weight_decay = (float)o->wd;
	oc.clip = (float)o->clip;
	return oc;
}

/* K steps by hand (the body of sl_run_step), keeping step 1's gradients. */
static void run_check(const opts *o, sl_model *m, sl_task *task, sl_pool *pool, const char *dir)
{
	int K = o->steps, P = m->ps->n;
	sl_optim_config oc = optim_config(o);
	sl_optim *opt = sl_optim_new(&oc, m->ps, pool);
	if (!opt)
		die("optimizer");
	sl_arena *arena = sl_arena_new(8u << 20);
	sl_tape *tp = sl_tape_new(arena, pool);
	float *loss = sl_xcalloc((size_t)K, sizeof *loss), *gnorm = sl_xcalloc((size_t)K, sizeof *gnorm);
	float *grad1 = sl_xmalloc(m->ps->total * sizeof *grad1);
	batch_seq q = { .task = task, .bsz = o->bsz, .seed = o->seed };
	for (int k = 0; k < K; k++) {
		sl_batch b;
		seq_next(&q, &b);
		sl_tape_reset(tp);
		tp->training = 1;
		tp->grad_enabled = 1;
		int count = 0;
		sl_tensor *l = task->ops->loss(task, m, tp, &b, &count);
		if (!l)
			die("loss");
		loss[k] = l->data[0];
		if (sl_tape_backward(tp, l) != SL_OK)
			die("backward");
		sl_tape_reset(tp);
		sl_batch_free(&b);
		if (k == 0)
			memcpy(grad1, m->ps->grad, m->ps->total * sizeof *grad1);
		opt->lr = (float)o->lr;
		if (sl_optim_step(opt) == SL_ERR)
			die("step");
		gnorm[k] = opt->grad_norm;
	}
	seq_free(&q);

	int n = 2 + 2 * P;
	sl_safetensors_tensor *t = sl_xcalloc((size_t)n, sizeof *t);
	char (*names)[160] = sl_xcalloc((size_t)n, sizeof *names);
	t[0] = (sl_safetensors_tensor){ .name = "loss", .dtype = SL_ST_F32, .ndim = 1, .shape = { K }, .data = loss };
	t[1] = (sl_safetensors_tensor){ .name = "grad_norm", .dtype = SL_ST_F32, .ndim = 1, .shape = { K },
					.data = gnorm };
	for (int i = 0; i < P; i++) {
		const sl_tensor *p = m->ps->t[i];
		snprintf(names[2 + i], sizeof names[0], "grad.%s", p->name);
		t[2 + i] = sl_safetensors_tensor_of(p, names[2 + i]);
		t[2 + i].data = grad1 + m->ps->offset[i];
		snprintf(names[2 + P + i], sizeof names[0], "param.%s", p->name);
		t[2 + P + i] = sl_safetensors_tensor_of(p, names[2 + P + i]);
	}
	char *path = path_in(dir, "seqlab.safetensors");
	if (sl_safetensors_write(path, t, n, NULL, 0) != SL_OK)
		die("writing the results");
	printf("steps=%d", K);
	for (int k = 0; k < K; k++)
		printf(" loss%d=%.9g", k + 1, loss[k]);
	printf("\n");
	free(path);
	free(t);
	free(names);
	free(loss);
	free(gnorm);
	free(grad1);
	sl_tape_free(tp);
	sl_arena_free(arena);
	sl_optim_free(opt);
}

/* The FLOPs of steps [W, W+S) and, with shapes set, their sgemm calls. */
static work timed_work(const opts *o, const sl_model *m, sl_task *task, FILE *shapes, long *words)
{
	work w = { 0 };
	batch_seq q = { .task = task, .bsz = o->bsz, .seed = o->seed };
	*words = 0;
	for (int k = 0; k < o->warmup + o->steps; k++) {
		sl_batch b;
		seq_next(&q, &b);
		if (k >= o->warmup) {
			w.shapes = shapes;
			step_work(m, &b, o->cfg->recall, &w);
			*words += b.B;
		}
		sl_batch_free(&b);
	}
	seq_free(&q);
	return w;
}

static void run_time(const opts *o, sl_model *m, sl_task *task, sl_pool *pool)
{
	long words;
	work w = timed_work(o, m, task, NULL, &words);
	sl_optim_config oc = optim_config(o);
	sl_sched sc;
	sl_sched_init(&sc, SL_SCHED_CONSTANT, o->lr);
	size_t nparams = sl_params_count(m->ps);
	sl_run *r = sl_run_new("bench", m, task, &oc, &sc, o->bsz, 1, o->seed, pool);
	if (!r)
		die("run");
	int end;
	for (int k = 0; k < o->warmup; k++)
		if (sl_run_step(r, pool, &end) != SL_OK)
			die("warm-up step");
	int64_t w0 = r->words_trained;
	double t0 = sl_now();
	for (int k = 0; k < o->steps; k++)
		if (sl_run_step(r, pool, &end) != SL_OK)
			die("step");
	double secs = sl_now() - t0;
	SL_ASSERT(r->words_trained - w0 == words);
	float last = r->nsteps ? r->loss[r->nsteps - 1] : 0;

	/* translate (Pig-Latin): validation words one at a time, greedy */
	char tms[32] = "-", tchars[32] = "-";
	if (!o->cfg->recall) {
		int nt;
		const char **tw = translate_words(sl_pl_task_data(task), o->nwords, &nt);
		double chars = 0, t1 = sl_now();
		for (int i = 0; i < nt; i++) {
			char out[4 * SL_PL_MAXLEN];
			if (sl_pl_translate(task, r->model, r->tape, tw[i], 1, out, sizeof out) != SL_OK)
				die("translate");
			chars += (double)strlen(out);
		}
		double tsecs = sl_now() - t1;
		free(tw);
		snprintf(tms, sizeof tms, "%.3f", nt ? 1e3 * tsecs / nt : 0);
		snprintf(tchars, sizeof tchars, "%.2f", nt ? chars / nt : 0);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("model=%s task=%s threads=%d steps=%d words=%ld seconds=%.4f wps=%.1f ms_step=%.3f last_loss=%.4f"
	       " translate_ms=%s translate_chars=%s rss_mb=%.1f params=%zu flops_word=%.0f linear_flops_word=%.0f\n",
	       o->cfg->name, o->cfg->recall ? "recall" : "piglatin", sl_pool_size(pool), o->steps, words, secs,
	       words / secs, 1e3 * secs / o->steps, last, tms, tchars, ru.ru_maxrss / 1024.0, nparams,
	       (w.linear + w.attn) / words, w.linear / words);
	sl_run_free(r); /* frees the model */
}

static void run_shapes(const opts *o, const sl_model *m, sl_task *task)
{
	long words;
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	work w = timed_work(o, m, task, mem, &words);
	fclose(mem);
	/* header, then the calls */
	printf("# model=%s steps=%d words=%ld flops=%.0f linear_flops=%.0f\n", o->cfg->name, o->steps, words,
	       w.linear + w.attn, w.linear);
	fwrite(buf, 1, len, stdout);
	free(buf);
}

/* The recall task as `task recall` builds it (task_cmds.c: 100 batches an
 * epoch, a test set of 256, maxlen 3L, the run's seed) from o's task options
 * (RECALL_TASK's first); sets o->task_spec. NULL after a message for a bad
 * option. */
static sl_task *recall_task(opts *o)
{
	static const char *const embeds[] = { "fixed", "learned" };
	long v[5] = { 0 };                 /* K d M L tau: RECALL_TASK's, then the command line's */
	const long lo[5] = { 2, 1, 1, 3, 1 };
	int embed = SL_RECALL_FIXED;
	for (int i = 0; i < o->ntkv; i++) {
		const char *key = o->tkeys[i], *val = o->tvals[i];
		if (strcmp(key, "embed") == 0) {
			if (strcmp(val, "fixed") && strcmp(val, "learned")) {
				fprintf(stderr, "bench_models: embed=%s: fixed or learned\n", val);
				return NULL;
			}
			embed = strcmp(val, "fixed") == 0 ? SL_RECALL_FIXED : SL_RECALL_LEARNED;
			continue;
		}
		int j = 0;
		while (strcmp(key, recall_keys[j]))
			j++;
		char *end;
		errno = 0;
		long x = strtol(val, &end, 10);
		if (errno || end == val || *end || x < lo[j] || x > 100000) {
			fprintf(stderr, "bench_models: %s=%s: an integer from %ld to 100000\n", key, val, lo[j]);
			return NULL;
		}
		v[j] = x;
	}
	sl_recall_config c = { .K = (int)v[0], .d = (int)v[1], .M = (int)v[2], .L = (int)v[3], .tau = (int)v[4],
			       .embed = embed };
	if (c.M > c.K || c.L < c.tau + 2) {
		fprintf(stderr, "bench_models: recall needs M <= K and L >= tau + 2\n");
		return NULL;
	}
	char dpart[32] = "";
	if (embed == SL_RECALL_FIXED)
		snprintf(dpart, sizeof dpart, " d=%d", c.d);
	snprintf(o->task_spec, sizeof o->task_spec,
		 "recall K=%d%s M=%d L=%d tau=%d embed=%s batches=100 test=256 maxlen=%d seed=%llu", c.K, dpart, c.M,
		 c.L, c.tau, embeds[embed], 3 * c.L, (unsigned long long)o->seed);
	float *V = NULL;
	if (embed == SL_RECALL_FIXED) {
		V = sl_xmalloc((size_t)c.K * c.d * sizeof *V);
		sl_recall_fixed_embed(c.K, c.d, V);
	}
	sl_gen_spec sp = { .kind = &sl_recall_kind, .cfg = &c, .cfg_size = sizeof c, .vocab = c.K, .len = c.L,
			   .max_len = 3 * c.L, .batches = 100, .test = 256, .seed = o->seed, .fixed = V,
			   .fixed_dim = c.d, .desc = o->task_spec };
	sl_task *t = sl_gen_task_new(&sp);
	free(V);
	return t;
}

int main(int argc, char **argv)
{
	opts o = { .model = "transformer", .dir = ".", .preset = "large", .words = "/usr/share/dict/words",
		   .steps = 5, .warmup = 3, .threads = 1, .bsz = 64, .nwords = 100, .seed = 0,
		   .lr = 3e-3, .wd = 0.01, .clip = 1.0 };
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2 || argv[1][0] == '-') {
		usage(stderr);
		return 2;
	}
	o.mode = argv[1];
	if (strcmp(o.mode, "blas") == 0) {
		printf("core=%s gemm=%s\n", sl_blas_core(), sl_gemm_name());
		return 0;
	}
	optind = 2;
	int c;
	while ((c = getopt(argc, argv, "m:o:n:w:S:j:p:b:l:d:c:t:f:")) != -1) {
		switch (c) {
		case 'm': o.model = optarg; break;
		case 'o': o.dir = optarg; break;
		case 'n': o.steps = atoi(optarg); break;
		case 'w': o.warmup = atoi(optarg); break;
		case 'S': o.seed = strtoull(optarg, NULL, 10); break;
		case 'j': o.threads = atoi(optarg); break;
		case 'p': o.preset = optarg; break;
		case 'b': o.bsz = atoi(optarg); break;
		case 'l': o.lr = atof(optarg); break;
		case 'd': o.wd = atof(optarg); break;
		case 'c': o.clip = atof(optarg); break;
		case 't': o.nwords = atoi(optarg); break;
		case 'f': o.words = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	for (size_t i = 0; i < SL_COUNT(configs) && !o.cfg; i++)
		if (strcmp(configs[i].name, o.model) == 0)
			o.cfg = &configs[i];
	if (!o.cfg) {
		fprintf(stderr, "bench_models: unknown model '%s' (transformer, mamba, rnn, gru, lstm, gpt, recall-mamba,"
			" s4d, lru, hawk, griffin, gpt-linear)\n", o.model);
		return 2;
	}
	/* the configuration's model and task options, then the command line's (the later wins) */
	char *defaults = sl_xmalloc(strlen(o.cfg->defaults) + 1), *tdefaults = sl_xmalloc(sizeof RECALL_TASK);
	strcpy(defaults, o.cfg->defaults);
	strcpy(tdefaults, RECALL_TASK);
	for (char *tok = strtok(defaults, " "); tok; tok = strtok(NULL, " ")) {
		char *eq = strchr(tok, '=');
		SL_ASSERT(eq && o.nkv < MAXKV);
		*eq = 0;
		o.keys[o.nkv] = tok;
		o.vals[o.nkv++] = eq + 1;
	}
	for (char *tok = strtok(tdefaults, " "); o.cfg->recall && tok; tok = strtok(NULL, " ")) {
		char *eq = strchr(tok, '=');
		SL_ASSERT(eq && o.ntkv < MAXKV);
		*eq = 0;
		o.tkeys[o.ntkv] = tok;
		o.tvals[o.ntkv++] = eq + 1;
	}
	for (int i = optind; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq || o.nkv == MAXKV || o.ntkv == MAXKV) {
			usage(stderr);
			return 2;
		}
		*eq = 0;
		int is_task = 0;
		for (int j = 0; recall_keys[j]; j++)
			is_task |= strcmp(argv[i], recall_keys[j]) == 0;
		if (is_task && !o.cfg->recall) {
			fprintf(stderr, "bench_models: %s= is an option of the recall task, not of %s\n", argv[i],
				o.cfg->name);
			return 2;
		}
		if (is_task) {
			o.tkeys[o.ntkv] = argv[i];
			o.tvals[o.ntkv++] = eq + 1;
		} else {
			o.keys[o.nkv] = argv[i];
			o.vals[o.nkv++] = eq + 1;
		}
	}
	int check = strcmp(o.mode, "check") == 0, timing = strcmp(o.mode, "time") == 0;
	if ((!check && !timing && strcmp(o.mode, "shapes") != 0) || o.steps < 1 || o.warmup < 0 || o.bsz < 1 ||
	    o.threads < 1) {
		usage(stderr);
		return 2;
	}
	if (strcmp(o.preset, "small") && strcmp(o.preset, "large")) {
		fprintf(stderr, "bench_models: preset '%s': small or large\n", o.preset);
		return 2;
	}

	const sl_model_kind *kind = sl_model_kind_find(o.cfg->kind);
	SL_ASSERT(kind);
	sl_task *task;
	if (o.cfg->recall) {
		task = recall_task(&o);
		if (!task)
			return 2;
	} else {
		snprintf(o.task_spec, sizeof o.task_spec, "piglatin size=%s", o.preset);
		sl_pl_data *d = sl_pl_from_words(o.words, 0, strcmp(o.preset, "small") == 0 ? SL_PL_SMALL : SL_PL_LARGE,
						 o.seed, 0);
		if (!d)
			die("data");
		task = sl_pl_task_new(d, o.preset);
	}
	sl_task_ref(task);
	sl_rng root, init;
	sl_rng_seed(&root, o.seed);
	init = sl_rng_split_str(&root, "init");
	sl_model *m = sl_model_new(kind, o.keys, o.vals, o.nkv, &task->shape, &init);
	free(defaults); /* the model and the task keep no option strings */
	free(tdefaults);
	if (!m) {
		fprintf(stderr, "bench_models: %s\n", sl_error());
		sl_task_unref(task);
		return 1;
	}
	if (strcmp(o.mode, "shapes") == 0) {
		run_shapes(&o, m, task);
		sl_model_free(m);
		sl_task_unref(task);
		return 0;
	}
	if (mkdir(o.dir, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "bench_models: %s: %s\n", o.dir, strerror(errno));
		return 1;
	}
	sl_pool *pool = sl_pool_new(o.threads);
	if (!pool)
		die("threads");
	write_init(&o, m, o.dir);
	write_data(m, task, &o, check ? o.steps : o.warmup + o.steps, o.dir);
	if (check) {
		run_check(&o, m, task, pool, o.dir);
		sl_model_free(m);
	} else {
		run_time(&o, m, task, pool);
	}
	sl_pool_free(pool);
	sl_task_unref(task);
	return 0;
}
