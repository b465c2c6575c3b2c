/* budget.c - memory estimates before allocating (budget.h). */
#include "seqlab/budget.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- the machine ---- */

/* "2G", "512M", "1000000" (powers of 1000) -> bytes; -1 if malformed. */
static int64_t parse_size(const char *s)
{
	char *end;
	double x = strtod(s, &end);
	if (end == s || !isfinite(x) || x <= 0)
		return -1;
	double mul = 1;
	switch (toupper((unsigned char)*end)) {
	case 0:
		break;
	case 'K':
		mul = 1e3;
		break;
	case 'M':
		mul = 1e6;
		break;
	case 'G':
		mul = 1e9;
		break;
	case 'T':
		mul = 1e12;
		break;
	default:
		return -1;
	}
	if (*end && end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]))
		return -1;
	x *= mul;
	return x < 9e18 ? (int64_t)x : INT64_MAX;
}

/* The first number in a file (a cgroup limit), or -1. */
static int64_t read_number(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long long v = -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int64_t sl_budget_limit(void)
{
	const char *env = getenv("SEQLAB_MEMORY");
	if (env && *env) {
		int64_t v = parse_size(env);
		if (v > 0)
			return v;
	}
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	int64_t lim = pages > 0 && psz > 0 ? (int64_t)pages * psz : INT64_MAX;
	/* a cgroup's limit (v2, then v1; "max" or a huge number: none) */
	int64_t cg = read_number("/sys/fs/cgroup/memory.max");
	if (cg <= 0)
		cg = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
	if (cg > 0 && cg < lim)
		lim = cg;
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (int64_t)rl.rlim_cur < lim)
		lim = (int64_t)rl.rlim_cur;
	if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (int64_t)rl.rlim_cur < lim)
		lim = (int64_t)rl.rlim_cur;
	return lim;
}

/* The process's resident memory, in bytes (0 if unknown). */
static int64_t resident(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	long long size = 0, rss = 0;
	if (fscanf(f, "%lld %lld", &size, &rss) != 2)
		rss = 0;
	fclose(f);
	long psz = sysconf(_SC_PAGESIZE);
	return rss > 0 && psz > 0 ? (int64_t)rss * psz : 0;
}

const char *sl_budget_format(int64_t b, char *buf, size_t n)
{
	static const char *const unit[] = { "bytes", "kB", "MB", "GB", "TB", "PB", "EB" };
	double x = (double)b;
	int u = 0;
	while (x >= 1000 && u < 6) {
		x /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%lld bytes", (long long)b);
	else if (x < 9.95)
		snprintf(buf, n, "%.1f %s", x, unit[u]);
	else
		snprintf(buf, n, "%.0f %s", x, unit[u]);
	return buf;
}

int sl_budget_check(int64_t need, const char *what, const char *hint)
{
	int64_t lim = sl_budget_limit(), used = resident();
	if (need < 0 || (double)need + (double)used <= (double)lim)
		return SL_OK;
	char n[32], l[32], u[96] = "";
	if ((double)used > 0.05 * (double)lim) {
		char us[32];
		snprintf(u, sizeof u, " (this session already uses %s)", sl_budget_format(used, us, sizeof us));
	}
	sl_errorf("%s needs %s; this machine has %s%s%s%s", what, sl_budget_format(need, n, sizeof n),
		  sl_budget_format(lim, l, sizeof l), u, hint ? "; " : "", hint ? hint : "");
	return SL_ERR;
}

/* ---- tasks ---- */

int64_t sl_budget_task_len(const sl_task *t)
{
	const sl_gen_kind *k = sl_gen_task_kind(t);
	if (!k)
		return t->shape.maxlen;
	int lo, hi, train;
	sl_gen_task_lengths(t, &lo, &hi, &train);
	return k->total(sl_gen_task_config(t), train);
}

int64_t sl_budget_eval_batch(const sl_task *t)
{
	/* a generated task evaluates its test= sequences 256 at a time (its desc
	 * names the count); Pig-Latin's batches are smaller */
	const char *p = strstr(t->desc, " test=");
	long long n = p ? atoll(p + 6) : 0;
	return n > 0 && n < 256 ? n : 256;
}

/* ---- models ---- */

/* The option key of kind in cfg as text, or NULL if the kind has no such option. */
static const char *opt(const sl_model_kind *kind, const void *cfg, const char *key, char *buf, size_t n)
{
	const sl_optspec *s = sl_optspec_find(sl_model_options(kind), key);
	if (!s)
		return NULL;
	sl_optspec_format(s, cfg, buf, n);
	return buf;
}

static double opt_num(const sl_model_kind *kind, const void *cfg, const char *key, double def)
{
	char buf[SL_OPT_STRMAX];
	const char *v = opt(kind, cfg, key, buf, sizeof buf);
	if (!v)
		return def;
	char *end;
	double x = strtod(v, &end);
	return end != v && isfinite(x) ? x : def;
}

/* The architecture, as far as the estimates need it. */
typedef struct shape_est {
	double H, V, Tm, heads, mlp, window;
	double attn, cross, mamba; /* blocks of each sort */
	double N, D, R, K;         /* Mamba: state, inner width, dt rank, conv width */
	double pe_tables;          /* learned position tables (of Tm x H) */
	double units;              /* a reservoir's units (esn) */
} shape_est;

static void estimate_shape(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape, shape_est *e)
{
	char buf[SL_OPT_STRMAX];
	memset(e, 0, sizeof *e);
	e->H = opt_num(kind, cfg, "hidden", 64);
	e->V = shape->vocab;
	e->Tm = shape->maxlen;
	e->heads = opt_num(kind, cfg, "heads", 4);
	e->mlp = opt_num(kind, cfg, "mlp", 4);
	e->window = opt_num(kind, cfg, "window", 0);
	e->N = opt_num(kind, cfg, "state", 16);
	e->D = opt_num(kind, cfg, "expand", 2) * e->H;
	e->R = opt_num(kind, cfg, "dt_rank", 0);
	if (e->R <= 0)
		e->R = ceil(e->H / 16);
	e->K = opt_num(kind, cfg, "conv", 4);
	e->units = opt_num(kind, cfg, "units", 0);
	const char *pattern = opt(kind, cfg, "pattern", buf, sizeof buf);
	if (pattern) {
		for (const char *p = pattern; *p; p++) {
			if (*p == 'M' || *p == 'm')
				e->mamba++;
			else
				e->attn++;
		}
	} else if (sl_optspec_find(sl_model_options(kind), "enc")) {
		e->attn = opt_num(kind, cfg, "enc", 2) + opt_num(kind, cfg, "dec", 2);
		e->cross = opt_num(kind, cfg, "dec", 2);
	} else if (sl_optspec_find(sl_model_options(kind), "state")) {
		e->mamba = opt_num(kind, cfg, "layers", 2);
	} else {
		e->attn = opt_num(kind, cfg, "layers", 2);
	}
	static const char *const pe_keys[] = { "pe", "enc_pe", "dec_pe" };
	for (size_t i = 0; i < SL_COUNT(pe_keys); i++) {
		const char *v = opt(kind, cfg, pe_keys[i], buf, sizeof buf);
		e->pe_tables += v && !strcmp(v, "learned");
	}
}

int64_t sl_budget_params(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape)
{
	shape_est e;
	estimate_shape(kind, cfg, shape, &e);
	double H = e.H, D = e.D;
	double attn = (4 + 2 * e.mlp) * H * H + 6 * H;
	double mamba = 2 * H * D + D * (e.K + 1) + D * (e.R + 2 * e.N) + e.R * D + D + D * e.N + D + D * H + H;
	double p = e.attn * attn + e.cross * 4 * H * H + e.mamba * mamba + 3 * e.V * H + e.pe_tables * e.Tm * H;
	if (e.units > 0) /* a reservoir: W (N, N), W_in (N, 1 + V), W_out (V, N) */
		p = e.units * e.units + (2 * e.V + 2) * e.units + e.V;
	return p < 9e18 ? (int64_t)p : INT64_MAX;
}

int64_t sl_budget_step(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape, int64_t B,
		       int64_t T)
{
	shape_est e;
	estimate_shape(kind, cfg, shape, &e);
	double b = (double)B, t = (double)T, H = e.H;
	double tk = e.window > 0 && e.window < t ? e.window : t;
	/* floats kept per block for the backward pass, with their gradients:
	 * projections, norms and residuals; the MLP; the attention scores and
	 * probabilities per head; Mamba's inner activations and scan states */
	double attn = b * t * H * (16 + 6 * e.mlp) + 2 * e.heads * b * t * tk;
	double cross = 4 * b * t * H + 2 * e.heads * b * t * t;
	double mamba = b * t * e.D * (2 * e.N + 14);
	double f = e.attn * attn + e.cross * cross + e.mamba * mamba + 3 * b * t * e.V;
	double bytes = 4 * f;
	if (e.units > 0) /* the fit's X Xᵀ, its copy for the eigenvalues, a chunk of states; the output */
		bytes = 8 * (3 * e.units * e.units + 256 * e.units) + 4 * b * t * e.V;
	return bytes < 9e18 ? (int64_t)bytes : INT64_MAX;
}

int64_t sl_budget_run(int64_t params)
{
	/* weights, gradients, two moments, and the good state's three copies */
	double b = (double)params * 7 * 4 + (8 << 20);
	return b < 9e18 ? (int64_t)b : INT64_MAX;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int sl_budget_check_model(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
			  const sl_task *task)
{
	void *cfg = sl_model_config(kind, keys, vals, n, 0); /* a bad option: sl_model_new says so */
	sl_error_clear();
	int64_t T = sl_budget_task_len(task);
	int64_t run = sl_budget_run(sl_budget_params(kind, cfg, &task->shape));
	int64_t step = sl_budget_step(kind, cfg, &task->shape, 1, T);
	free(cfg);
	char what[96];
	snprintf(what, sizeof what, "a %s of these options on this task", kind->name);
	return sl_budget_check(add_sat(run, step), what, "fewer or narrower layers, or a shorter task length");
}

int sl_budget_check_eval(const sl_model *m, const sl_task *task)
{
	int64_t T = sl_budget_task_len(task);
	int64_t ev = sl_budget_step(m->kind, m->cfg, &task->shape, sl_budget_eval_batch(task), T) / 2;
	return sl_budget_check(ev, "an evaluation", NULL);
}

int sl_budget_check_train(const sl_model *m, const sl_task *task, int B)
{
	int64_t T = sl_budget_task_len(task);
	int64_t step = sl_budget_step(m->kind, m->cfg, &task->shape, B, T);
	int64_t ev = sl_budget_step(m->kind, m->cfg, &task->shape, sl_budget_eval_batch(task), T) / 2;
	char what[96];
	snprintf(what, sizeof what, "a training step at batch %d", B);
	return sl_budget_check(step > ev ? step : ev, what, "a smaller batch: 'optim RUN batch=N'");
}
