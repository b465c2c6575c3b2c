/* task_cmds.c - `task recall | mqar | copy` and `eval RUN lengths=...`. */
#include "seqlab/task_cmds.h"
#include "seqlab/recall.h"
#include "seqlab/budget.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LEN 100000

/* The options only some kinds take, and which kind takes them. */
static const struct {
	const char *key, *kind;
} own_keys[] = {
	{ "K", "recall" }, { "d", "recall" }, { "M", "recall" }, { "tau", "recall" }, { "embed", "recall" },
	{ "vocab", "mqar" }, { "pairs", "mqar" }, { "power_a", "mqar" }, { "noise", "mqar" },
	{ "N", "copy" }, { "A", "copy" },
	{ "file", "piglatin" }, { "words", "piglatin" }, { "corpus", "piglatin" }, { "size", "piglatin" },
};

/* An option of another kind given to this one is an error. */
static int foreign_keys(sl_args *a, const char *kind)
{
	for (size_t i = 0; i < SL_COUNT(own_keys); i++) {
		const char *v;
		if (strcmp(own_keys[i].kind, kind) != 0 && sl_args_str(a, own_keys[i].key, &v))
			return sl_args_fail(a, "%s= is an option of task %s, not %s", own_keys[i].key, own_keys[i].kind,
					    kind);
	}
	return SL_OK;
}

/* The options every generated task takes. */
typedef struct common_opts {
	long long batches, test, maxlen;
	uint64_t seed;
} common_opts;

static void common_get(sl_session *s, sl_args *a, common_opts *c)
{
	c->batches = 100;
	c->test = 256;
	c->maxlen = 0;
	c->seed = sl_session_seed(s);
	sl_args_int(a, "batches", 1, 1000000, &c->batches);
	sl_args_int(a, "test", 1, 100000, &c->test);
	sl_args_int(a, "maxlen", 1, 3 * MAX_LEN, &c->maxlen);
	sl_args_u64(a, "seed", &c->seed);
}

/* maxlen (the longest task length models must take): 3L by default */
static int common_maxlen(sl_args *a, common_opts *c, int L)
{
	if (!c->maxlen)
		c->maxlen = 3LL * L;
	if (c->maxlen < L)
		return sl_args_fail(a, "maxlen=%lld is shorter than the training length L=%d", c->maxlen, L);
	return SL_OK;
}

static const char *const embed_names[] = { "fixed", "learned", NULL };

static sl_task *make_recall(sl_session *s, sl_args *a)
{
	long long K = 16, d = 8, M = 1, L = 64, tau = 1;
	int embed = SL_RECALL_FIXED;
	common_opts co;
	sl_args_int(a, "K", 2, 65536, &K);
	int has_d = sl_args_int(a, "d", 1, 4096, &d);
	sl_args_int(a, "M", 1, 65536, &M);
	sl_args_int(a, "L", 3, MAX_LEN, &L);
	sl_args_int(a, "tau", 1, MAX_LEN, &tau);
	sl_args_enum(a, "embed", embed_names, &embed);
	common_get(s, a, &co);
	if (foreign_keys(a, "recall") != SL_OK || sl_args_end(a) != SL_OK)
		return NULL;
	if (M > K)
		return sl_args_fail(a, "M=%lld exceeds K=%lld (the queries are the first M tokens)", M, K), NULL;
	if (L < tau + 2)
		return sl_args_fail(a, "L=%lld is too short for tau=%lld (at least tau+2)", L, tau), NULL;
	if (has_d && embed == SL_RECALL_LEARNED)
		return sl_args_fail(a, "d= sets the fixed embedding's width; with embed=learned the model's hidden= "
				    "does"), NULL;
	if (common_maxlen(a, &co, (int)L) != SL_OK)
		return NULL;
	sl_recall_config c = { .K = (int)K, .d = (int)d, .M = (int)M, .L = (int)L, .tau = (int)tau, .embed = embed };
	sl_gen_spec est = { .kind = &sl_recall_kind, .cfg = &c, .vocab = (int)K, .len = (int)L, .test = (int)co.test,
			    .fixed_dim = embed == SL_RECALL_FIXED ? (int)d : 0 };
	if (sl_budget_check(sl_budget_gen_task(&est), "this task", "fewer test= sequences or a shorter L") != SL_OK)
		return sl_fail(s, "%s", sl_error()), NULL;
	float *V = NULL;
	if (embed == SL_RECALL_FIXED) {
		V = sl_xmalloc((size_t)K * d * sizeof *V);
		sl_recall_fixed_embed((int)K, (int)d, V);
	}
	char desc[256], dpart[32] = "";
	if (embed == SL_RECALL_FIXED)
		snprintf(dpart, sizeof dpart, " d=%lld", d);
	snprintf(desc, sizeof desc, "recall K=%lld%s M=%lld L=%lld tau=%lld embed=%s batches=%lld test=%lld maxlen=%lld "
		 "seed=%llu", K, dpart, M, L, tau, embed_names[embed], co.batches, co.test, co.maxlen,
		 (unsigned long long)co.seed);
	sl_gen_spec sp = { .kind = &sl_recall_kind, .cfg = &c, .cfg_size = sizeof c, .vocab = (int)K, .len = (int)L,
			   .max_len = (int)co.maxlen, .batches = (int)co.batches, .test = (int)co.test,
			   .seed = co.seed, .fixed = V, .fixed_dim = (int)d, .desc = desc };
	sl_task *t = sl_gen_task_new(&sp);
	free(V);
	sl_out(s, "task=recall K=%lld%s M=%lld L=%lld tau=%lld embed=%s vocab=%lld lengths=%lld..%lld batches=%lld "
	       "test=%lld seed=%llu", K, dpart, M, L, tau, embed_names[embed], K, tau + 2, co.maxlen, co.batches,
	       co.test, (unsigned long long)co.seed);
	return t;
}

/* x in the fewest digits that read back as x (descs are re-read by `task`) */
static const char *shortest(double x, char *buf, size_t n)
{
	for (int p = 1; p <= 17; p++) {
		snprintf(buf, n, "%.*g", p, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	return buf;
}

static sl_task *make_mqar(sl_session *s, sl_args *a)
{
	long long V = 8192, L = 64, P = 8;
	double power_a = 0.01;
	int noise = 1;
	common_opts co;
	sl_args_int(a, "vocab", 4, 1 << 20, &V);
	sl_args_int(a, "L", 4, MAX_LEN, &L);
	sl_args_int(a, "pairs", 1, 256, &P);
	sl_args_float(a, "power_a", 1e-6, 1, &power_a);
	sl_args_bool(a, "noise", &noise);
	common_get(s, a, &co);
	if (foreign_keys(a, "mqar") != SL_OK || sl_args_end(a) != SL_OK)
		return NULL;
	if (L % 2)
		return sl_args_fail(a, "L=%lld must be even (zoology's layout)", L), NULL;
	if (4 * P > L)
		return sl_args_fail(a, "pairs=%lld needs L >= %lld (4 per pair)", P, 4 * P), NULL;
	if (V <= L)
		return sl_args_fail(a, "vocab=%lld must exceed L=%lld (zoology's assert)", V, L), NULL;
	if (P > V / 2 - 1)
		return sl_args_fail(a, "pairs=%lld: vocab=%lld has only %lld keys", P, V, V / 2 - 1), NULL;
	if (common_maxlen(a, &co, (int)L) != SL_OK)
		return NULL;
	sl_mqar_config c = { .vocab = (int)V, .L = (int)L, .pairs = (int)P, .power_a = (float)power_a, .noise = noise };
	char desc[256], pa[32];
	snprintf(desc, sizeof desc, "mqar vocab=%lld L=%lld pairs=%lld power_a=%s noise=%s batches=%lld test=%lld "
		 "maxlen=%lld seed=%llu", V, L, P, shortest(power_a, pa, sizeof pa), noise ? "on" : "off", co.batches,
		 co.test, co.maxlen, (unsigned long long)co.seed);
	sl_gen_spec sp = { .kind = &sl_mqar_kind, .cfg = &c, .cfg_size = sizeof c, .vocab = (int)V, .len = (int)L,
			   .max_len = (int)co.maxlen, .batches = (int)co.batches, .test = (int)co.test,
			   .seed = co.seed, .desc = desc };
	if (sl_budget_check(sl_budget_gen_task(&sp), "this task", "fewer test= sequences or a shorter L") != SL_OK)
		return sl_fail(s, "%s", sl_error()), NULL;
	sl_task *t = sl_gen_task_new(&sp);
	sl_out(s, "task=mqar vocab=%lld L=%lld pairs=%lld power_a=%s noise=%s lengths=%lld..%lld batches=%lld "
	       "test=%lld seed=%llu", V, L, P, pa, noise ? "on" : "off", 4 * P, co.maxlen, co.batches, co.test,
	       (unsigned long long)co.seed);
	return t;
}

static sl_task *make_copy(sl_session *s, sl_args *a)
{
	long long L = 256, N = 16, A = 16;
	common_opts co;
	sl_args_int(a, "L", 1, MAX_LEN, &L);
	sl_args_int(a, "N", 1, 4096, &N);
	sl_args_int(a, "A", 1, 65536, &A);
	common_get(s, a, &co);
	if (foreign_keys(a, "copy") != SL_OK || sl_args_end(a) != SL_OK)
		return NULL;
	if (N > L)
		return sl_args_fail(a, "N=%lld data tokens do not fit in L=%lld positions", N, L), NULL;
	if (common_maxlen(a, &co, (int)L) != SL_OK)
		return NULL;
	sl_copy_config c = { .L = (int)L, .N = (int)N, .A = (int)A };
	char desc[256];
	snprintf(desc, sizeof desc, "copy L=%lld N=%lld A=%lld batches=%lld test=%lld maxlen=%lld seed=%llu", L, N, A,
		 co.batches, co.test, co.maxlen, (unsigned long long)co.seed);
	sl_gen_spec sp = { .kind = &sl_copy_kind, .cfg = &c, .cfg_size = sizeof c, .vocab = (int)A + 2,
			   .len = (int)L, .max_len = (int)co.maxlen, .batches = (int)co.batches,
			   .test = (int)co.test, .seed = co.seed, .desc = desc };
	if (sl_budget_check(sl_budget_gen_task(&sp), "this task", "fewer test= sequences or a shorter L") != SL_OK)
		return sl_fail(s, "%s", sl_error()), NULL;
	sl_task *t = sl_gen_task_new(&sp);
	sl_out(s, "task=copy L=%lld N=%lld A=%lld vocab=%lld seq=%lld lengths=%lld..%lld batches=%lld test=%lld "
	       "seed=%llu", L, N, A, A + 2, L + N, N, co.maxlen, co.batches, co.test, (unsigned long long)co.seed);
	return t;
}

sl_task *sl_task_cmd_make(sl_session *s, sl_args *a, const char *kind)
{
	if (!strcmp(kind, "recall"))
		return make_recall(s, a);
	if (!strcmp(kind, "mqar"))
		return make_mqar(s, a);
	if (!strcmp(kind, "copy"))
		return make_copy(s, a);
	static const char *const kinds[] = { "piglatin", "recall", "mqar", "copy", NULL };
	const char *near = sl_args_suggest(kind, kinds);
	if (near)
		sl_args_fail(a, "unknown task '%s'; did you mean '%s'?", kind, near);
	else
		sl_args_fail(a, "unknown task '%s' (piglatin, recall, mqar, copy)", kind);
	return NULL;
}

/* "A..B", "N" or "all" into [lo, hi] */
static int parse_lengths(const char *spec, int dlo, int dhi, int *lo, int *hi)
{
	if (!strcmp(spec, "all")) {
		*lo = dlo;
		*hi = dhi;
		return SL_OK;
	}
	char *end;
	long a = strtol(spec, &end, 10), b = a;
	if (end == spec)
		return SL_ERR;
	if (!strncmp(end, "..", 2)) {
		const char *p = end + 2;
		b = strtol(p, &end, 10);
		if (end == p)
			return SL_ERR;
	}
	if (*end || a < 1 || b < a || b > 3 * MAX_LEN)
		return SL_ERR;
	*lo = (int)a;
	*hi = (int)b;
	return SL_OK;
}

int sl_task_cmd_eval_lengths(sl_session *s, sl_args *a, sl_run *r, int *status)
{
	const char *spec = NULL;
	long long n = 256, step = 1;
	int has_spec = sl_args_str(a, "lengths", &spec);
	int has_n = sl_args_int(a, "n", 1, 100000, &n);
	int has_step = sl_args_int(a, "step", 1, MAX_LEN, &step);
	if (!has_spec && !has_n && !has_step)
		return 0; /* a bad n= or step= is remembered: the plain eval's sl_args_end reports it */
	*status = SL_ERR;
	if (sl_args_end(a) != SL_OK)
		return 1;
	if (!has_spec)
		return sl_args_fail(a, "n= and step= go with lengths="), 1;
	if (!sl_gen_task_kind(r->task))
		return sl_fail(s, "run '%s' is on the %s task: lengths= needs recall, mqar or copy", r->name,
			       r->task->ops->name), 1;
	if (!r->model->kind->lm)
		return sl_fail(s, "run '%s' is a %s: lengths= needs a language model (gpt, mamba, hybrid)", r->name,
			       r->model->kind->name), 1;
	int dlo, dhi, train, lo, hi;
	sl_gen_task_lengths(r->task, &dlo, &dhi, &train);
	if (parse_lengths(spec, dlo, dhi, &lo, &hi) != SL_OK)
		return sl_args_fail(a, "lengths=%s: expected A..B, N or all", spec), 1;
	if (lo < dlo)
		return sl_fail(s, "lengths=%s: the task's shortest sequence is %d", spec, dlo), 1;
	sl_out(s, "run=%s lengths=%d..%d step=%lld n=%lld train_len=%d", r->name, lo, hi, step, n, train);
	r->tape->pool = sl_session_pool(s);
	for (int len = lo; len <= hi; len += (int)step) {
		double acc, loss;
		if (sl_session_interrupted(s))
			return sl_fail(s, "interrupted at length %d", len), 1;
		if (sl_gen_task_eval_length(r->task, r->model, r->tape, len, (int)n, &acc, &loss) != SL_OK)
			return sl_fail(s, "length %d: %s", len, sl_error()), 1;
		sl_out(s, "length=%d acc=%.4f", len, acc);
	}
	*status = SL_OK;
	return 1;
}
