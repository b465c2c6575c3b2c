/* workbench.c - tasks, runs, training jobs, and their commands. */
#include "seqlab/workbench.h"
#include "seqlab/budget.h"
#include "seqlab/commands.h"
#include "seqlab/display.h"
#include "seqlab/piglatin.h"
#include "seqlab/recall.h"
#include "seqlab/sweep.h"
#include "seqlab/task_cmds.h"
#include "seqlab/views.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_RUNS 256
/* The most steps or epochs one `train` asks for (and max=): far beyond any
 * real run, and far from int64_t's end, so step arithmetic cannot overflow. */
#define TRAIN_COUNT_MAX 1000000000000LL

/* A training job: advance `run` until the target, the condition or the cap. */
typedef struct train_job {
	sl_run *run;
	int active;
	int64_t until_step;      /* stop at this step (-1: none) */
	int metric;              /* condition on an evaluation: -1 none, else METRIC_* */
	int ge;                  /* 1: metric >= x, 0: metric <= x */
	double x;
	double max_seconds;      /* cap on wall time (0: none) */
	int64_t max_steps;       /* cap on steps (0: none) */
	int eval_every;          /* evaluate every N steps (0: at each epoch end) */
	double wall0;            /* wall clock at start (for train_s) */
	int64_t step0, words0;
	double seconds0;
	int nevals0;             /* the run's evaluations at start */
	int no_final;            /* final=off: no evaluation after the last step */
	int met;                 /* the condition held */
	const char *stopped;     /* why it ended */
} train_job;

struct sl_workbench {
	sl_task *task;           /* the current one (runs hold their own references) */
	sl_run *runs[MAX_RUNS];
	int nruns;
	train_job job;
	sl_sweep_job *sweep;     /* a `sweep run` in the background, or NULL */
	sl_display *display;     /* what plot and watch chose (display.h) */
};

enum { METRIC_VAL_ACC, METRIC_VAL_LOSS, METRIC_LOSS, METRIC_CER, METRIC_COUNT };
static const char *const metric_names[] = { "val_acc", "val_loss", "loss", "cer", NULL };

sl_workbench *sl_workbench_new(void)
{
	sl_workbench *wb = sl_xcalloc(1, sizeof(sl_workbench));
	wb->display = sl_display_new();
	return wb;
}

void sl_workbench_free(sl_workbench *wb)
{
	if (!wb)
		return;
	for (int i = 0; i < wb->nruns; i++)
		sl_run_free(wb->runs[i]);
	if (wb->task)
		sl_task_unref(wb->task);
	sl_sweep_job_free(wb->sweep);
	sl_display_free(wb->display);
	free(wb);
}

sl_display *sl_workbench_display(sl_workbench *wb)
{
	return wb->display;
}

sl_task *sl_workbench_task(sl_workbench *wb)
{
	return wb->task;
}

void sl_workbench_exchange(sl_workbench *a, sl_workbench *b)
{
	SL_ASSERT(!a->job.active && !b->job.active);
	sl_workbench t = *a;
	a->task = b->task;
	a->nruns = b->nruns;
	memcpy(a->runs, b->runs, sizeof a->runs);
	b->task = t.task;
	b->nruns = t.nruns;
	memcpy(b->runs, t.runs, sizeof b->runs);
}

sl_run *sl_workbench_run(sl_workbench *wb, const char *name)
{
	for (int i = 0; i < wb->nruns; i++)
		if (strcmp(wb->runs[i]->name, name) == 0)
			return wb->runs[i];
	return NULL;
}

void sl_workbench_mark_saved(sl_workbench *wb)
{
	for (int i = 0; i < wb->nruns; i++)
		wb->runs[i]->saved_step = wb->runs[i]->step;
}

int sl_workbench_nruns(const sl_workbench *wb)
{
	return wb->nruns;
}

sl_run *sl_workbench_run_at(sl_workbench *wb, int i)
{
	return i >= 0 && i < wb->nruns ? wb->runs[i] : NULL;
}

int sl_workbench_training(const sl_workbench *wb)
{
	return wb->job.active || wb->sweep;
}

const char *sl_workbench_busy_text(const sl_workbench *wb)
{
	static __thread char buf[128];
	if (wb->job.active)
		snprintf(buf, sizeof buf, "run '%s' is training", wb->job.run->name);
	else if (wb->sweep)
		snprintf(buf, sizeof buf, "sweep '%s' is running", sl_sweep_job_name(wb->sweep));
	else
		buf[0] = 0;
	return buf;
}

int sl_workbench_sweep_progress(sl_session *s, sl_sweep_progress *p)
{
	sl_workbench *wb = sl_session_workbench(s);
	if (!wb->sweep)
		return 0;
	sl_sweep_job_progress(wb->sweep, p);
	return 1;
}

int sl_workbench_run_sweep(sl_session *s, sl_sweep_job *j)
{
	sl_workbench *wb = sl_session_workbench(s);
	SL_ASSERT(!wb->job.active && !wb->sweep);
	wb->sweep = j;
	sl_session_clear_interrupt(s);
	if (sl_session_async(s))
		return SL_OK; /* the front-end ticks it */
	while (wb->sweep)
		if (sl_workbench_tick(s, 3600) != SL_OK)
			return SL_ERR;
	return SL_OK;
}

void sl_workbench_complete_runs(sl_session *s, const char *prefix, void (*add)(void *, const char *), void *ctx)
{
	sl_workbench *wb = sl_session_workbench(s);
	for (int i = 0; i < wb->nruns; i++)
		if (strncmp(wb->runs[i]->name, prefix, strlen(prefix)) == 0)
			add(ctx, wb->runs[i]->name);
}

/* The run named by the next plain word, or NULL after reporting. */
static sl_run *take_run(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	const char *name = sl_args_word(a);
	if (!name) {
		sl_args_fail(a, "which run?");
		return NULL;
	}
	sl_run *r = sl_workbench_run(wb, name);
	if (!r) {
		const char *names[MAX_RUNS + 1];
		for (int i = 0; i < wb->nruns; i++)
			names[i] = wb->runs[i]->name;
		names[wb->nruns] = NULL;
		const char *near = sl_args_suggest(name, names);
		if (near)
			sl_fail(s, "no run '%s'; did you mean '%s'?", name, near);
		else if (wb->nruns)
			sl_fail(s, "no run '%s'; 'runs' lists them", name);
		else
			sl_fail(s, "no run '%s'; create one with 'model %s = transformer'", name, name);
		return NULL;
	}
	return r;
}

/* ---- task ------------------------------------------------------------------ */

int sl_cmd_task(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	sl_task *t = sl_task_cmd_make(s, a, sl_args_word(a));
	if (!t)
		return SL_ERR;
	const sl_pl_data *d = sl_pl_task_data(t); /* a task made just now */
	if (d && d->list) /* task piglatin file=... list=on */
		for (int i = 0; i < d->nissues; i++)
			sl_out(s, "%s", d->issues[i]);
	if (wb->task)
		sl_task_unref(wb->task);
	wb->task = t;
	sl_task_ref(t);
	return SL_OK;
}

/* ---- model ----------------------------------------------------------------- */

static int valid_name(const char *n)
{
	if (!n[0] || strlen(n) > 31 || !(isalpha((unsigned char)n[0]) || n[0] == '_'))
		return 0;
	for (const char *p = n; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
			return 0;
	return 1;
}

/* Default optimizer and schedule of a new run: AdamW, cosine with warmup. */
typedef struct optim_args {
	sl_optim_config oc;
	sl_sched sc;
	int bsz;
	int shuffle;
	int epochs;   /* cosine length in epochs (or steps, below) */
	int64_t steps;
	int warmup_set; /* warmup= given: kept, or refused when the schedule is not longer */
} optim_args;

static void optim_defaults(optim_args *o)
{
	o->oc = sl_optim_defaults(SL_OPTIM_ADAMW);
	o->oc.lr = 3e-3f;
	o->oc.clip = 1.0f;
	sl_sched_init(&o->sc, SL_SCHED_COSINE, o->oc.lr);
	o->sc.warmup = 100;
	o->bsz = 64;
	o->shuffle = 1;
	o->epochs = 30;
	o->steps = 0;
	o->warmup_set = 0;
}

static int optim_apply(sl_run *r, const optim_args *o, sl_session *s)
{
	sl_sched sc = o->sc;
	sc.lr = o->oc.lr;
	int nb = sl_run_epoch_batches(r, o->bsz);
	int accum = o->oc.accum ? o->oc.accum : 1;
	if (sc.kind == SL_SCHED_COSINE) /* the updates of `epochs` epochs, the last one's included */
		sc.total = o->steps ? o->steps : ((int64_t)o->epochs * nb + accum - 1) / accum;
	if (sc.kind == SL_SCHED_COSINE && sc.total <= sc.warmup) {
		if (o->warmup_set)
			return sl_fail(s, "warmup=%lld is not shorter than the cosine schedule's %lld steps: lower warmup= or "
				       "lengthen the schedule (epochs= or steps=)", (long long)sc.warmup, (long long)sc.total);
		sc.warmup = sc.total / 10; /* the default 100 would outlast the schedule: a tenth of it */
	}
	sl_sched_reset(&sc);
	if (sl_run_set_optim(r, &o->oc, &sc, sl_session_pool(s)) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	r->bsz = o->bsz;
	r->shuffle = o->shuffle;
	if (r->plan) { /* a new batch size: the epoch plan is rebuilt */
		r->task->ops->plan_free(r->plan);
		r->plan = NULL;
	}
	return SL_OK;
}

int sl_cmd_model(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	const char *name = sl_args_word(a), *eq = sl_args_word(a), *kind_name = sl_args_word(a);
	uint64_t seed = sl_session_seed(s);
	sl_args_u64(a, "seed", &seed);
	if (!name || !eq || strcmp(eq, "=") != 0 || !kind_name)
		return sl_args_fail(a, "expected NAME = KIND");
	const sl_model_kind *kind = sl_model_kind_find(kind_name);
	if (!kind) {
		const char *names[16];
		int k = 0;
		for (; sl_model_kinds[k] && k < 15; k++)
			names[k] = sl_model_kinds[k]->name;
		names[k] = NULL;
		const char *near = sl_args_suggest(kind_name, names);
		if (near)
			return sl_args_fail(a, "unknown model kind '%s'; did you mean '%s'? (kinds: %s)", kind_name, near,
					    sl_model_kind_names(0));
		return sl_args_fail(a, "unknown model kind '%s' (kinds: %s)", kind_name, sl_model_kind_names(0));
	}
	const char *keys[64], *vals[64];
	int n = 0;
	while (n < 64 && sl_args_next_option(a, &keys[n], &vals[n]))
		n++;
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!valid_name(name))
		return sl_args_fail(a, "'%s' is not a run name (a letter, then letters, digits, _ - .; 31 at most)", name);
	if (sl_workbench_run(wb, name))
		return sl_fail(s, "run '%s' exists; 'drop %s' first, or pick another name", name, name);
	if (wb->nruns == MAX_RUNS)
		return sl_fail(s, "%d runs already; drop some", MAX_RUNS);
	if (!wb->task)
		return sl_fail(s, "no task yet: start with 'task piglatin' (size=small|large)");
	if (kind->fit_add && !wb->task->ops->fit)
		return sl_fail(s, "a %s is fitted in closed form, and task %s has no data for such a fit", kind->name,
			       wb->task->ops->name);
	if (sl_budget_check_model(kind, keys, vals, n, wb->task) != SL_OK) /* before allocating */
		return sl_fail(s, "%s", sl_error());
	sl_rng root;
	sl_rng_seed(&root, seed);
	sl_rng init = sl_rng_split_str(&root, "init");
	sl_model *m = sl_model_new(kind, keys, vals, n, &wb->task->shape, &init);
	if (!m)
		return sl_fail(s, "%s", sl_error());
	optim_args o;
	optim_defaults(&o);
	sl_sched flat; /* replaced by optim_apply once the epoch length is known */
	sl_sched_init(&flat, SL_SCHED_CONSTANT, o.oc.lr);
	sl_run *r = sl_run_new(name, m, wb->task, &o.oc, &flat, o.bsz, o.shuffle, seed, sl_session_pool(s));
	if (!r) {
		sl_model_free(m);
		return sl_fail(s, "%s", sl_error());
	}
	if (optim_apply(r, &o, s) != SL_OK) {
		sl_run_free(r);
		return SL_ERR;
	}
	wb->runs[wb->nruns++] = r;
	sl_out(s, "run=%s kind=%s params=%zu", name, kind->name, sl_params_count(m->ps));
	return SL_OK;
}

int sl_cmd_drop(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	sl_run *r = take_run(s, a);
	if (!r)
		return SL_ERR;
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (wb->job.active && wb->job.run == r)
		return sl_fail(s, "run '%s' is training; 'stop' it first", r->name);
	for (int i = 0; i < wb->nruns; i++)
		if (wb->runs[i] == r) {
			memmove(wb->runs + i, wb->runs + i + 1, (size_t)(wb->nruns - i - 1) * sizeof *wb->runs);
			wb->nruns--;
			break;
		}
	sl_out(s, "dropped=%s", r->name);
	sl_run_free(r);
	return SL_OK;
}

/* ---- optim ----------------------------------------------------------------- */

static const char *const optim_names[] = { "sgd", "adam", "adamw", NULL };

/* The ranges `optim` accepts (lo, hi); a loaded checkpoint's settings must
 * pass the same (sl_workbench_check_optim). */
#define R_LR 1e-8, 10
#define R_WD 0, 10
#define R_MOMENTUM 0, 0.999
#define R_BETA1 0, 0.9999
#define R_BETA2 0, 0.99999
#define R_EPS 1e-12, 1
#define R_CLIP 0, 1e6
#define R_ACCUM 1, 1024
#define R_BATCH 1, 65536
#define R_WARMUP 0, 100000000
#define R_MIN_LR 0, 10
#define R_STEP_SIZE 1, 1000000000
#define R_GAMMA 0, 1
#define R_FACTOR 0, 1
#define R_PATIENCE 0, 1000000
#define R_THRESHOLD 0, 1

/* x (a float field: compared as the float the command would store) in
 * [lo, hi], else the error "KEY=X is out of range (LO..HI)". */
static int in_range(const char *key, double x, double lo, double hi, int is_float)
{
	double l = is_float ? (double)(float)lo : lo, h = is_float ? (double)(float)hi : hi;
	if (x >= l && x <= h)
		return 1;
	sl_errorf("%s=%.9g is out of range (%g..%g), as 'optim' allows", key, x, lo, hi);
	return 0;
}

int sl_workbench_check_optim(const sl_optim_config *oc, const sl_sched *sc, int bsz)
{
	int ok = oc->kind >= 0 && oc->kind < SL_OPTIM_KIND_COUNT && sc->kind >= 0 && sc->kind < SL_SCHED_KIND_COUNT;
	if (!ok) {
		sl_errorf("an unknown optimizer or schedule kind");
		return SL_ERR;
	}
	ok = in_range("optim.lr", oc->lr, R_LR, 1) && in_range("optim.weight_decay", oc->weight_decay, R_WD, 1) &&
	     in_range("optim.momentum", oc->momentum, R_MOMENTUM, 1) && in_range("optim.beta1", oc->beta1, R_BETA1, 1) &&
	     in_range("optim.beta2", oc->beta2, R_BETA2, 1) && in_range("optim.eps", oc->eps, R_EPS, 1) &&
	     in_range("optim.clip", oc->clip, R_CLIP, 1) && in_range("optim.accum", oc->accum, R_ACCUM, 0) &&
	     in_range("optim.dampening", oc->dampening, 0, 0, 1) &&
	     in_range("run.batch_size", bsz, R_BATCH, 0) && in_range("sched.lr", sc->lr, (float)oc->lr, (float)oc->lr, 0) &&
	     in_range("sched.warmup", (double)sc->warmup, R_WARMUP, 0) &&
	     in_range("sched.min_lr", sc->min_lr, R_MIN_LR, 0) && in_range("sched.gamma", sc->gamma, R_GAMMA, 0) &&
	     in_range("sched.factor", sc->factor, R_FACTOR, 0) &&
	     in_range("sched.patience", sc->patience, R_PATIENCE, 0) &&
	     in_range("sched.threshold", sc->threshold, R_THRESHOLD, 0) &&
	     in_range("sched.total", (double)sc->total, 0, 1e18, 0) && in_range("sched.cooldown", sc->cooldown, 0, 1e6, 0) &&
	     in_range("sched.bad", sc->bad, 0, 1e9, 0) && in_range("sched.cooldown_left", sc->cooldown_left, 0, 1e6, 0) &&
	     in_range("sched.cur", sc->cur, 0, 10, 0) && in_range("sched.epochs", (double)sc->epochs, 0, 1e18, 0);
	if (ok && sc->kind == SL_SCHED_STEP)
		ok = in_range("sched.step_size", (double)sc->step_size, R_STEP_SIZE, 0);
	if (ok && !(isinf(sc->best) || fabs(sc->best) < 1e300)) {
		sl_errorf("sched.best=%g is not a loss", sc->best);
		ok = 0;
	}
	if (!ok)
		return SL_ERR;
	if (sl_optim_config_check(oc) != SL_OK || sl_sched_check(sc) != SL_OK)
		return SL_ERR;
	return SL_OK;
}
static const char *const sched_names[] = { "constant", "cosine", "step", "plateau", NULL };

int sl_cmd_optim(sl_session *s, sl_args *a)
{
	sl_run *r = take_run(s, a);
	if (!r)
		return SL_ERR;
	optim_args o;
	optim_defaults(&o);
	const char *kind = sl_args_word(a);
	int k = SL_OPTIM_ADAMW;
	if (kind) {
		for (k = 0; optim_names[k] && strcmp(optim_names[k], kind); k++)
			;
		if (!optim_names[k])
			return sl_args_fail(a, "unknown optimizer '%s' (sgd, adam, adamw)", kind);
		o.oc = sl_optim_defaults(k);
		o.oc.clip = 1.0f;
		if (k != SL_OPTIM_SGD)
			o.oc.lr = 3e-3f;
	}
	double v;
	long long iv;
	int e;
	if (sl_args_float(a, "lr", R_LR, &v))
		o.oc.lr = (float)v;
	if (sl_args_float(a, "wd", R_WD, &v))
		o.oc.weight_decay = (float)v;
	if (sl_args_float(a, "momentum", R_MOMENTUM, &v))
		o.oc.momentum = (float)v;
	if (sl_args_bool(a, "nesterov", &e))
		o.oc.nesterov = e;
	if (sl_args_float(a, "beta1", R_BETA1, &v))
		o.oc.beta1 = (float)v;
	if (sl_args_float(a, "beta2", R_BETA2, &v))
		o.oc.beta2 = (float)v;
	if (sl_args_float(a, "eps", R_EPS, &v))
		o.oc.eps = (float)v;
	if (sl_args_float(a, "clip", R_CLIP, &v))
		o.oc.clip = (float)v;
	if (sl_args_int(a, "accum", R_ACCUM, &iv))
		o.oc.accum = (int)iv;
	if (sl_args_int(a, "batch", R_BATCH, &iv))
		o.bsz = (int)iv;
	if (sl_args_bool(a, "shuffle", &e))
		o.shuffle = e;
	if (sl_args_enum(a, "sched", sched_names, &e)) {
		sl_sched_init(&o.sc, e, o.oc.lr);
		o.sc.warmup = e == SL_SCHED_COSINE ? 100 : 0;
	}
	if (sl_args_int(a, "warmup", R_WARMUP, &iv)) {
		o.sc.warmup = iv;
		o.warmup_set = 1;
	}
	if (sl_args_int(a, "epochs", 1, 1000000, &iv))
		o.epochs = (int)iv;
	if (sl_args_int(a, "steps", 1, 1000000000, &iv))
		o.steps = iv;
	if (sl_args_float(a, "min_lr", R_MIN_LR, &v))
		o.sc.min_lr = v;
	if (sl_args_int(a, "step_size", R_STEP_SIZE, &iv))
		o.sc.step_size = iv;
	if (sl_args_float(a, "gamma", R_GAMMA, &v))
		o.sc.gamma = v;
	if (sl_args_float(a, "factor", R_FACTOR, &v))
		o.sc.factor = v;
	if (sl_args_int(a, "patience", R_PATIENCE, &iv))
		o.sc.patience = (int)iv;
	if (sl_args_float(a, "threshold", R_THRESHOLD, &v))
		o.sc.threshold = v;
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (sl_session_workbench(s)->job.active && sl_session_workbench(s)->job.run == r)
		return sl_fail(s, "run '%s' is training; 'stop' it first", r->name);
	if (o.sc.kind == SL_SCHED_STEP && o.sc.step_size < 1)
		return sl_args_fail(a, "sched=step needs step_size=N");
	if (sl_optim_config_check(&o.oc) != SL_OK)
		return sl_args_fail(a, "%s", sl_error());
	int64_t step = r->step;
	if (optim_apply(r, &o, s) != SL_OK)
		return SL_ERR;
	char total[32] = "";
	if (r->sched.kind == SL_SCHED_COSINE)
		snprintf(total, sizeof total, " total_steps=%lld", (long long)r->sched.total);
	int cut = r->sched.kind == SL_SCHED_COSINE && !o.warmup_set && r->sched.warmup != o.sc.warmup;
	sl_out(s, "run=%s optim=%s lr=%g wd=%g clip=%g batch=%d accum=%d sched=%s warmup=%lld%s%s%s", r->name,
	       optim_names[r->ocfg.kind], r->ocfg.lr, r->ocfg.weight_decay, r->ocfg.clip, r->bsz, r->ocfg.accum,
	       sched_names[r->sched.kind], (long long)r->sched.warmup, total,
	       cut ? " note=warmup_cut_to_a_tenth" : "", step ? " note=moments_reset" : "");
	return SL_OK;
}

/* ---- train ----------------------------------------------------------------- */

static double metric_of(const sl_eval *e, int m)
{
	switch (m) {
	case METRIC_VAL_ACC:
		return e->val_acc;
	case METRIC_VAL_LOSS:
		return e->val_loss;
	case METRIC_LOSS:
		return e->train_loss;
	default:
		return e->cer;
	}
}

/* "val_acc>=0.97" (or the same split into words) */
static int parse_until(sl_args *a, const char *text, train_job *j)
{
	char buf[128];
	snprintf(buf, sizeof buf, "%s", text);
	char *op = strpbrk(buf, "<>");
	if (!op || op[1] != '=')
		return sl_args_fail(a, "'until %s': expected METRIC>=X or METRIC<=X (metrics: val_acc val_loss loss cer)",
				    text);
	j->ge = op[0] == '>';
	*op = 0;
	int m;
	for (m = 0; metric_names[m] && strcmp(metric_names[m], buf); m++)
		;
	if (!metric_names[m])
		return sl_args_fail(a, "unknown metric '%s' (val_acc val_loss loss cer)", buf);
	char *end;
	j->x = strtod(op + 2, &end);
	if (!op[2] || *end || !isfinite(j->x))
		return sl_args_fail(a, "'%s' is not a number", op + 2);
	j->metric = m;
	return SL_OK;
}

/* "10m", "90s", "1h" -> seconds; "5000", "5000steps" -> steps. */
static int parse_max(sl_args *a, const char *v, train_job *j)
{
	char *end;
	double x = strtod(v, &end);
	if (end == v || !isfinite(x) || x <= 0)
		return sl_args_fail(a, "max=%s: expected a duration (90s, 10m, 1h) or a step count (5000)", v);
	if (x > (double)TRAIN_COUNT_MAX)
		return sl_args_fail(a, "max=%s is out of range (at most %lld steps or seconds)", v,
				    (long long)TRAIN_COUNT_MAX);
	if (!strcmp(end, "s"))
		j->max_seconds = x;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		j->max_seconds = 60 * x;
	else if (!strcmp(end, "h"))
		j->max_seconds = 3600 * x;
	else if (!*end || !strcmp(end, "steps"))
		j->max_steps = x < (double)TRAIN_COUNT_MAX ? (int64_t)x : TRAIN_COUNT_MAX;
	else
		return sl_args_fail(a, "max=%s: expected a duration (90s, 10m, 1h) or a step count (5000)", v);
	return SL_OK;
}

/* Whether r's schedule has ended: its lr is 0 from step `total` on (cosine
 * with min_lr 0). */
static int sched_ends(const sl_run *r)
{
	return r->sched.kind == SL_SCHED_COSINE && sl_sched_lr(&r->sched, r->sched.total) <= 0;
}

/* " cer=X" on a task that has a character error rate (Pig-Latin), else "". */
static const char *cer_field(const sl_run *r, double cer, char *buf, size_t n)
{
	if (sl_pl_task_data(r->task))
		snprintf(buf, n, " cer=%.4f", cer);
	else
		buf[0] = 0;
	return buf;
}

/* " rmse=X nrmse=Y" on a regression task (series: val_loss is the mean
 * squared error, NRMSE the RMSE over the test targets' variance), else "". */
static const char *rmse_field(const sl_run *r, double val_loss, char *buf, size_t n)
{
	if (r->task->target_var > 0)
		snprintf(buf, n, " rmse=%.6f nrmse=%.6f", sqrt(val_loss), sqrt(val_loss) / r->task->target_var);
	else
		buf[0] = 0;
	return buf;
}

static void emit_eval(sl_session *s, const sl_run *r, const sl_eval *e)
{
	char cer[32], rmse[64];
	sl_out(s, "run=%s epoch=%lld step=%lld loss=%.4f val_loss=%.4f val_acc=%.4f%s%s lr=%.3g train_s=%.1f", r->name,
	       (long long)e->epoch, (long long)e->step, e->train_loss, e->val_loss, e->val_acc,
	       cer_field(r, e->cer, cer, sizeof cer), rmse_field(r, e->val_loss, rmse, sizeof rmse),
	       r->nsteps ? r->lr[r->nsteps - 1] : r->ocfg.lr, e->seconds);
}

/* What the job has done so far, as the one command that does exactly that
 * again (for the journal): "train RUN N steps [eval=N] [final=off]". 0 if
 * it has not stepped. */
static int job_line(const train_job *j, char *buf, size_t n)
{
	const sl_run *r = j->run;
	long long steps = (long long)(r->step - j->step0);
	if (steps <= 0)
		return 0;
	/* an `N steps` job evaluates after its last step unless it just did */
	int final = r->nevals > j->nevals0 && r->evals[r->nevals - 1].step == r->step;
	char every[32] = "";
	if (j->eval_every)
		snprintf(every, sizeof every, " eval=%d", j->eval_every);
	snprintf(buf, n, "train %s %lld steps%s%s", r->name, steps, every, final ? "" : " final=off");
	return 1;
}

int sl_workbench_job_line(sl_workbench *wb, char *buf, size_t n)
{
	return wb->job.active && job_line(&wb->job, buf, n);
}

static void job_finish(sl_session *s, train_job *j)
{
	char line[256];
	if (job_line(j, line, sizeof line))
		sl_session_record(s, line);
	sl_run *r = j->run;
	double wall = sl_now() - j->wall0;
	double trained = r->seconds - j->seconds0;
	const sl_eval *e = r->nevals ? &r->evals[r->nevals - 1] : NULL;
	/* loss= means what it means on the evaluation lines: the mean training
	 * loss per token since the evaluation before (the last one's, if it
	 * came at the last step) */
	double loss = e && e->step == r->step ? e->train_loss
		      : r->tokens_since_eval > 0 ? r->loss_sum_since_eval / r->tokens_since_eval : NAN;
	/* steps= and epochs= count this job (epochs in batches of the run's
	 * epoch); step= and epoch= say where the run is, as on evaluation lines */
	int nb = sl_run_epoch_batches(r, r->bsz);
	double epochs = nb > 0 ? (double)(r->step - j->step0) * (r->ocfg.accum ? r->ocfg.accum : 1) / nb : 0;
	char ep[32];
	if (epochs == floor(epochs))
		snprintf(ep, sizeof ep, "%.0f", epochs);
	else
		snprintf(ep, sizeof ep, "%.2f", epochs);
	sl_out(s, "run=%s steps=%lld epochs=%s step=%lld epoch=%lld train_s=%.2f words_s=%.0f loss=%.4f val_loss=%.4f "
		  "val_acc=%.4f stopped=%s",
	       r->name, (long long)(r->step - j->step0), ep, (long long)r->step, (long long)r->epoch, wall,
	       trained > 0 ? (double)(r->words_trained - j->words0) / trained : 0.0, loss, e ? e->val_loss : NAN,
	       e ? e->val_acc : NAN, j->stopped);
	j->active = 0;
}

int sl_workbench_tick(sl_session *s, double seconds)
{
	sl_workbench *wb = sl_session_workbench(s);
	if (wb->sweep) {
		int finished;
		int st = sl_sweep_job_tick(s, wb->sweep, seconds, &finished);
		if (finished) {
			sl_sweep_job_free(wb->sweep);
			wb->sweep = NULL;
		}
		return st == SL_OK ? SL_OK : sl_fail(s, "%s", sl_error());
	}
	train_job *j = &wb->job;
	if (!j->active)
		return SL_OK;
	sl_run *r = j->run;
	sl_pool *pool = sl_session_pool(s);
	double t0 = sl_now();
	do {
		if (sl_session_interrupted(s)) {
			j->stopped = "interrupted";
			job_finish(s, j);
			/* also in sl_error(), for a front-end that ticks outside any command */
			sl_errorf("interrupted at step %lld (the run keeps its weights; 'train %s ...' goes on)",
				  (long long)r->step, r->name);
			return sl_fail(s, "%s", sl_error());
		}
		if (sched_ends(r) && r->step >= r->sched.total) {
			/* nothing more to learn at lr 0 (an `until` or `max` job;
			 * a job with an end was fitted to the schedule) */
			j->stopped = "sched_end";
			job_finish(s, j);
			sl_info(s, "run %s: its cosine schedule ended at step %lld (lr 0)%s; 'train %s N epochs' on a fresh "
				   "run stretches the schedule, 'optim %s ... epochs=N' sets a longer one",
				r->name, (long long)r->sched.total, j->metric >= 0 ? " before the condition held" : "",
				r->name, r->name);
			return SL_OK;
		}
		int epoch_end = 0;
		if (sl_run_step(r, pool, &epoch_end) != SL_OK) {
			/* diverged: back to the last good state, so the run stays usable */
			j->stopped = "nan";
			char msg[512], back[160];
			snprintf(msg, sizeof msg, "%s", sl_error());
			int64_t good = sl_run_rollback(r);
			if (good >= 0)
				snprintf(back, sizeof back, "rolled back to step %lld, the last good state", (long long)good);
			else
				snprintf(back, sizeof back, "no good state to roll back to");
			job_finish(s, j);
			if (sl_model_fits(r->model)) /* a closed-form fit has no lr: its error says what to change */
				sl_errorf("%s; %s; training stopped", msg, back);
			else
				sl_errorf("%s; %s; training stopped (try a lower lr: 'optim %s lr=...')", msg, back,
					  r->name);
			return sl_fail(s, "%s", sl_error());
		}
		sl_display_after_step(s, r);
		int eval_now = j->eval_every ? (r->step - j->step0) % j->eval_every == 0 : epoch_end;
		if (eval_now) {
			sl_eval e;
			sl_run_eval(r, pool, &e);
			emit_eval(s, r, &e);
			if (isfinite(e.val_loss))
				sl_run_mark_good(r); /* a state that evaluates: what divergence rolls back to */
			if (j->metric >= 0) {
				double v = metric_of(&e, j->metric);
				if (j->ge ? v >= j->x : v <= j->x) {
					j->stopped = "until";
					job_finish(s, j);
					return SL_OK;
				}
			}
		}
		if (j->until_step >= 0 && r->step >= j->until_step) {
			if (!eval_now && !j->no_final) {
				sl_eval e;
				sl_run_eval(r, pool, &e);
				emit_eval(s, r, &e);
			}
			j->stopped = "done";
			job_finish(s, j);
			return SL_OK;
		}
		if ((j->max_steps && r->step - j->step0 >= j->max_steps) ||
		    (j->max_seconds && sl_now() - j->wall0 >= j->max_seconds)) {
			if (!eval_now && !j->no_final) {
				sl_eval e;
				sl_run_eval(r, pool, &e);
				emit_eval(s, r, &e);
			}
			j->stopped = "max";
			job_finish(s, j);
			return SL_OK;
		}
	} while (sl_now() - t0 < seconds);
	return SL_OK;
}

void sl_workbench_progress(sl_session *s, sl_train_progress *p)
{
	sl_workbench *wb = sl_session_workbench(s);
	const train_job *j = &wb->job;
	memset(p, 0, sizeof *p);
	p->fraction = -1;
	if (!j->active)
		return;
	const sl_run *r = j->run;
	p->run = r;
	p->steps = r->step - j->step0;
	p->elapsed = sl_now() - j->wall0;
	double trained = r->seconds - j->seconds0;
	p->words_per_s = trained > 0 ? (double)(r->words_trained - j->words0) / trained : 0;
	double f = -1;
	if (j->until_step > j->step0)
		f = SL_MAX(f, (double)(r->step - j->step0) / (double)(j->until_step - j->step0));
	if (j->max_steps)
		f = SL_MAX(f, (double)(r->step - j->step0) / (double)j->max_steps);
	if (j->max_seconds)
		f = SL_MAX(f, p->elapsed / j->max_seconds);
	p->fraction = f < 0 ? -1 : SL_MIN(f, 1.0);
}

void sl_workbench_pause(sl_session *s)
{
	sl_workbench *wb = sl_session_workbench(s);
	if (wb->sweep) {
		sl_sweep_job_stop(s, wb->sweep);
		sl_info(s, "%s", sl_error());
		sl_sweep_job_free(wb->sweep);
		wb->sweep = NULL;
	}
	if (wb->job.active) {
		wb->job.stopped = "paused";
		job_finish(s, &wb->job);
	}
}

/* The shortest text that reads back as v. */
static const char *fmt_float(float v, char *buf, size_t n)
{
	for (int p = 6; p < 9; p++) {
		snprintf(buf, n, "%.*g", p, (double)v);
		if ((float)strtod(buf, NULL) == v)
			return buf;
	}
	snprintf(buf, n, "%.9g", (double)v);
	return buf;
}

/* The `optim` line that gives r its optimizer and schedule again, with the
 * cosine schedule `total` steps long: the settings that differ from what
 * `optim RUN KIND sched=cosine` sets. */
static void optim_line(const sl_run *r, int64_t total, char *buf, size_t n)
{
	const sl_optim_config *c = &r->ocfg;
	optim_args base;
	optim_defaults(&base);
	if (c->kind != SL_OPTIM_ADAMW) {
		base.oc = sl_optim_defaults(c->kind);
		base.oc.clip = 1.0f;
		if (c->kind != SL_OPTIM_SGD)
			base.oc.lr = 3e-3f;
	}
	size_t k = (size_t)snprintf(buf, n, "optim %s", r->name);
	char f[32];
#define ADD(...)                                                                  \
	do {                                                                      \
		if (k < n)                                                        \
			k += (size_t)snprintf(buf + k, n - k, __VA_ARGS__);       \
	} while (0)
	if (c->kind != SL_OPTIM_ADAMW)
		ADD(" %s", optim_names[c->kind]);
	if (c->lr != base.oc.lr)
		ADD(" lr=%s", fmt_float(c->lr, f, sizeof f));
	if (c->weight_decay != base.oc.weight_decay)
		ADD(" wd=%s", fmt_float(c->weight_decay, f, sizeof f));
	if (c->momentum != base.oc.momentum)
		ADD(" momentum=%s", fmt_float(c->momentum, f, sizeof f));
	if (c->nesterov != base.oc.nesterov)
		ADD(" nesterov=%s", c->nesterov ? "on" : "off");
	if (c->beta1 != base.oc.beta1)
		ADD(" beta1=%s", fmt_float(c->beta1, f, sizeof f));
	if (c->beta2 != base.oc.beta2)
		ADD(" beta2=%s", fmt_float(c->beta2, f, sizeof f));
	if (c->eps != base.oc.eps)
		ADD(" eps=%s", fmt_float(c->eps, f, sizeof f));
	if (c->clip != base.oc.clip)
		ADD(" clip=%s", fmt_float(c->clip, f, sizeof f));
	if (c->accum != base.oc.accum)
		ADD(" accum=%d", c->accum);
	if (r->bsz != base.bsz)
		ADD(" batch=%d", r->bsz);
	if (r->shuffle != base.shuffle)
		ADD(" shuffle=%s", r->shuffle ? "on" : "off");
	ADD(" sched=cosine");
	if (r->sched.warmup != 100)
		ADD(" warmup=%lld", (long long)r->sched.warmup);
	if (r->sched.min_lr != 0)
		ADD(" min_lr=%.17g", r->sched.min_lr);
	ADD(" steps=%lld", (long long)total);
#undef ADD
}

/* A job that ends at a known step must not run past the end of the
 * schedule at lr 0: on a run that has not trained, the schedule is
 * stretched to the job's end (by an `optim` line, journaled, so that replay
 * does the same); on a trained one, the job is refused with the ways out. */
static int fit_schedule(sl_session *s, sl_run *r, const train_job *j)
{
	if (!sched_ends(r) || j->until_step < 0)
		return SL_OK;
	int64_t end = j->until_step;
	int accum = r->ocfg.accum ? r->ocfg.accum : 1;
	int nb = sl_run_epoch_batches(r, r->bsz);
	if (j->max_steps)
		end = SL_MIN(end, r->step + j->max_steps);
	if (end <= r->sched.total)
		return SL_OK;
	double per_epoch = (double)nb / accum;
	char line[512];
	optim_line(r, end, line, sizeof line);
	if (r->step == 0) {
		int64_t was = r->sched.total;
		if (sl_session_exec(s, line, NULL) != SL_OK)
			return SL_ERR;
		sl_info(s, "note: run %s's cosine schedule was %lld steps (%.3g epochs) and would end at lr 0 before this "
			   "job does; it now spans the job's %lld steps (%.3g epochs)",
			r->name, (long long)was, (double)was / per_epoch, (long long)end, (double)end / per_epoch);
		return SL_OK;
	}
	char fits[128];
	if (r->step < r->sched.total)
		snprintf(fits, sizeof fits, "'train %s %lld steps' stops at its end, ", r->name,
			 (long long)(r->sched.total - r->step));
	else
		fits[0] = 0;
	return sl_fail(s,
		       "run '%s' would train %lld steps past the end of its cosine schedule (step %lld, %.3g epochs) at "
		       "lr 0; %s'%s' stretches the schedule to this job's end (the optimizer's moments restart)",
		       r->name, (long long)(end - SL_MAX(r->sched.total, r->step)), (long long)r->sched.total,
		       (double)r->sched.total / per_epoch, fits, line);
}

int sl_cmd_train(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	sl_run *r = take_run(s, a);
	if (!r)
		return SL_ERR;
	train_job j = { .run = r, .until_step = -1, .metric = -1 };
	const char *w1 = sl_args_word(a);
	const char *maxv = NULL;
	long long every = 0;
	int final = 1;
	sl_args_str(a, "max", &maxv);
	sl_args_int(a, "eval", 1, 1000000000, &every);
	sl_args_bool(a, "final", &final);
	if (!w1)
		return sl_args_fail(a, "how long? N steps, N epochs or until METRIC>=X");
	if (!strcmp(w1, "until")) {
		char cond[128] = "";
		const char *w;
		while ((w = sl_args_word(a)) && strlen(cond) + strlen(w) < sizeof cond - 1)
			strcat(cond, w);
		if (parse_until(a, cond, &j) != SL_OK)
			return SL_ERR;
	} else {
		char *end;
		errno = 0;
		long long n = strtoll(w1, &end, 10);
		const char *unit = *end ? end : sl_args_word(a);
		if (end == w1 || (n < 1 && errno != ERANGE))
			return sl_args_fail(a, "'%s' is not a positive count", w1);
		if (errno == ERANGE || n > TRAIN_COUNT_MAX)
			return sl_args_fail(a, "'%.*s' is out of range (1..%lld)", (int)(end - w1), w1,
					    (long long)TRAIN_COUNT_MAX);
		if (!unit)
			return sl_args_fail(a, "%lld what? steps or epochs", n);
		if (!strcmp(unit, "steps") || !strcmp(unit, "step"))
			j.until_step = r->step + n;
		else if (!strcmp(unit, "epochs") || !strcmp(unit, "epoch")) {
			/* N epochs' worth of batches from where the run is (a paused
			 * job's remainder is not an epoch) */
			int nb = sl_run_epoch_batches(r, r->bsz), accum = r->ocfg.accum ? r->ocfg.accum : 1;
			j.until_step = r->step + (n * nb + accum - 1) / accum;
		}
		else
			return sl_args_fail(a, "'%s': steps or epochs", unit);
	}
	if (maxv && parse_max(a, maxv, &j) != SL_OK)
		return SL_ERR;
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (j.metric >= 0 && !j.max_seconds && !j.max_steps)
		j.max_steps = 0; /* unbounded: Ctrl-C or `stop` ends it */
	if (sl_workbench_training(wb))
		return sl_fail(s, "%s; 'stop' it first", sl_workbench_busy_text(wb));
	if (sl_budget_check_train(r->model, r->task, r->bsz) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	if (fit_schedule(s, r, &j) != SL_OK)
		return SL_ERR;
	j.eval_every = (int)every;
	j.no_final = !final;
	j.nevals0 = r->nevals;
	j.wall0 = sl_now();
	j.step0 = r->step;
	j.words0 = r->words_trained;
	j.seconds0 = r->seconds;
	j.active = 1;
	wb->job = j;
	sl_run_mark_good(r); /* where a divergence of this job rolls back to (unless it is not finite) */
	sl_session_clear_interrupt(s);
	if (sl_session_async(s))
		return SL_OK; /* the front-end ticks it */
	while (wb->job.active)
		if (sl_workbench_tick(s, 3600) != SL_OK)
			return SL_ERR;
	return SL_OK;
}

int sl_cmd_stop(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!sl_workbench_training(wb))
		return sl_fail(s, "nothing is training and no sweep is running");
	sl_workbench_pause(s);
	return SL_OK;
}

/* ---- eval, translate, mistakes --------------------------------------------- */

/* `eval RUN lengths=...`'s lines pass through here on their way out: the
 * table becomes the run's accuracy-vs-length series (plot acc_len). */
typedef struct len_catch {
	sl_output_fn fn;
	void *ud;
	int n, cap, train;
	int *len;
	double *acc;
} len_catch;

static void catch_lengths(void *ud, int kind, const char *line)
{
	len_catch *c = ud;
	int len, train;
	double acc;
	char tail;
	if (kind == SL_OUT_RESULT && sscanf(line, "length=%d acc=%lf%c", &len, &acc, &tail) == 2) {
		if (c->n == c->cap) {
			c->cap = c->cap ? 2 * c->cap : 64;
			c->len = sl_xrealloc(c->len, (size_t)c->cap * sizeof *c->len);
			c->acc = sl_xrealloc(c->acc, (size_t)c->cap * sizeof *c->acc);
		}
		c->len[c->n] = len;
		c->acc[c->n++] = acc;
	} else if (kind == SL_OUT_RESULT && strstr(line, " train_len=")) {
		if (sscanf(strstr(line, " train_len="), " train_len=%d", &train) == 1)
			c->train = train;
	}
	if (c->fn)
		c->fn(c->ud, kind, line);
}

int sl_cmd_eval(sl_session *s, sl_args *a)
{
	sl_run *r = take_run(s, a);
	if (!r)
		return SL_ERR;
	int st;
	len_catch c = { 0 };
	sl_session_get_output(s, &c.fn, &c.ud);
	sl_session_set_output(s, catch_lengths, &c);
	/* lengths=: the accuracy-vs-length table (task_cmds.c) */
	int lengths = sl_task_cmd_eval_lengths(s, a, r, &st);
	sl_session_set_output(s, c.fn, c.ud);
	if (lengths && st == SL_OK && c.n) {
		free(r->len);
		free(r->len_acc);
		r->len = c.len;
		r->len_acc = c.acc;
		r->nlen = c.n;
		r->len_train = c.train;
	} else {
		free(c.len);
		free(c.acc);
	}
	if (lengths)
		return st;
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (sl_session_workbench(s)->job.active && sl_session_workbench(s)->job.run == r)
		return sl_fail(s, "run '%s' is training (it evaluates as it goes); 'stop' it first", r->name);
	if (sl_budget_check_eval(r->model, r->task) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	sl_eval e;
	sl_run_eval(r, sl_session_pool(s), &e);
	if (sl_pl_task_data(r->task))
		sl_out(s, "run=%s val_loss=%.4f val_acc=%.4f cer=%.4f words=%d correct=%d", r->name, e.val_loss,
		       e.val_acc, e.cer, e.words, e.correct);
	else if (r->task->target_var > 0) {
		char rmse[64];
		sl_out(s, "run=%s val_loss=%.6g%s positions=%d", r->name, e.val_loss,
		       rmse_field(r, e.val_loss, rmse, sizeof rmse), e.words);
	} else
		sl_out(s, "run=%s val_loss=%.4f val_acc=%.4f positions=%d correct=%d", r->name, e.val_loss, e.val_acc,
		       e.words, e.correct);
	return SL_OK;
}

int sl_cmd_translate(sl_session *s, sl_args *a)
{
	sl_run *r = take_run(s, a);
	if (!r)
		return SL_ERR;
	long long beam = 1;
	const char *file = NULL;
	sl_args_int(a, "beam", 1, 64, &beam);
	sl_args_str(a, "file", &file);
	/* the words typed, then those of file= (separated by blanks or lines) */
	const char **words = NULL;
	int n = 0, cap = 0;
	char *text = NULL;
	for (const char *w; (w = sl_args_word(a));) {
		if (n == cap)
			words = sl_xrealloc(words, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *words);
		words[n++] = w;
	}
	int st = sl_args_end(a);
	if (st == SL_OK && file) {
		text = sl_session_read_file(file);
		if (!text)
			st = sl_fail(s, "%s", sl_error());
		char *save = NULL;
		for (char *w = text ? strtok_r(text, " \t\r\n", &save) : NULL; w; w = strtok_r(NULL, " \t\r\n", &save)) {
			if (n == cap)
				words = sl_xrealloc(words, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *words);
			words[n++] = w;
		}
	}
	if (st == SL_OK && !n)
		st = file ? sl_fail(s, "%s has no words", file) : sl_args_fail(a, "which words? (or file=PATH)");
	if (st == SL_OK && !sl_pl_task_data(r->task))
		st = sl_fail(s, "run '%s' is on the %s task: translate needs piglatin", r->name, r->task->ops->name);
	for (int i = 0; st == SL_OK && i < n; i++) {
		int32_t tok[SL_PL_MAXLEN];
		char at[32] = "";
		if (n > 1)
			snprintf(at, sizeof at, " (word %d)", i + 1);
		const sl_pl_data *d = sl_pl_task_data(r->task);
		if (sl_pl_encode(d, words[i], tok, SL_PL_MAXLEN) > 0)
			continue;
		if (d->apostrophes)
			st = sl_fail(s, "'%s'%s: only lowercase a-z, '-' and apostrophes can be translated (at most %d characters)",
				     words[i], at, SL_PL_MAXLEN);
		else
			st = sl_fail(s, "'%s'%s: only lowercase a-z and '-' can be translated (at most %d characters)%s",
				     words[i], at, SL_PL_MAXLEN,
				     strchr(words[i], '\'') ? "; words with ' need a task piglatin apostrophes=on" : "");
	}
	int correct = 0;
	for (int i = 0; st == SL_OK && i < n; i++) {
		char out[4 * SL_PL_MAXLEN], want[4 * SL_PL_MAXLEN];
		r->tape->pool = sl_session_pool(s);
		if (sl_pl_translate(r->task, r->model, r->tape, words[i], (int)beam, out, sizeof out) != SL_OK) {
			st = sl_fail(s, "%s", sl_error());
			break;
		}
		int has_rule = sl_piglatin_rule(words[i], want, sizeof want) == SL_OK;
		correct += has_rule && !strcmp(out, want);
		sl_out(s, "word=%s output=%s expected=%s correct=%s", words[i], out, has_rule ? want : "?",
		       has_rule && !strcmp(out, want) ? "yes" : "no");
	}
	if (st == SL_OK && n > 1)
		sl_out(s, "words=%d correct=%d", n, correct);
	free(words);
	free(text);
	return st;
}

int sl_cmd_mistakes(sl_session *s, sl_args *a)
{
	sl_run *r = take_run(s, a);
	if (!r)
		return SL_ERR;
	long long n = 20;
	sl_args_int(a, "n", 0, 1000000, &n);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (!r->nevals)
		return sl_fail(s, "run '%s' has not been evaluated yet ('eval %s')", r->name, r->name);
	const sl_eval *e = &r->evals[r->nevals - 1];
	const sl_mistakes *mk = &r->mistakes;
	if (sl_pl_task_data(r->task)) {
		sl_out(s, "run=%s mistakes=%d words=%d step=%lld", r->name, mk->n, e->words, (long long)e->step);
		for (int i = 0; i < mk->n && i < n; i++)
			sl_out(s, "word=%s output=%s expected=%s", mk->src[i], mk->out[i], mk->want[i]);
		return SL_OK;
	}
	/* a generated task: the wrong answers at its scored positions, each
	 * with its test sequence as tokens (the first 1000 kept) */
	sl_out(s, "run=%s mistakes=%d positions=%d step=%lld%s", r->name, e->words - e->correct, e->words,
	       (long long)e->step, mk->n < e->words - e->correct ? " listed=first" : "");
	for (int i = 0; i < mk->n && i < n; i++)
		sl_out(s, "%s output=%s expected=%s", mk->src[i], mk->out[i], mk->want[i]);
	return SL_OK;
}

/* ---- attention views ------------------------------------------------------- */

static const char *const kind_names[] = { "enc", "dec", "cross", NULL };

int sl_cmd_attn(sl_session *s, sl_args *a)
{
	sl_run *r = take_run(s, a);
	if (!r)
		return SL_ERR;
	const char *word = sl_args_word(a);
	const char *layer_s = NULL, *head_s = NULL;
	int kind = SL_ATTN_CROSS;
	sl_args_str(a, "layer", &layer_s);
	sl_args_str(a, "head", &head_s);
	sl_args_enum(a, "kind", kind_names, &kind);
	if (!word)
		return sl_args_fail(a, "which word?");
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	if (r->model->kind->layers) /* a stack: the views its attention blocks offer */
		return sl_views_show(s, a, r, word, "attn", layer_s, head_s);
	if (!sl_pl_task_data(r->task))
		return sl_fail(s, "run '%s' is on the %s task: attn needs piglatin", r->name, r->task->ops->name);
	const sl_model_kind *mk = r->model->kind;
	if (!mk->seq2seq || !mk->attn_layers)
		return sl_fail(s, "run '%s' is a %s: it has no attention to show", r->name, mk->name);
	int heads = 1, layers = mk->attn_layers(r->model->impl, kind, &heads);
	char spec[512];
	if (layers == 0)
		return sl_fail(s, "run '%s' (%s) has no %s attention", r->name, sl_model_spec(r->model, spec, sizeof spec),
			       kind_names[kind]);
	int l0 = 0, l1 = layers, h0 = 0, h1 = heads;
	if (layer_s && strcmp(layer_s, "all")) {
		char *end;
		long v = strtol(layer_s, &end, 10);
		if (*end || v < 0 || v >= layers)
			return sl_args_fail(a, "layer=%s: 0..%d or all", layer_s, layers - 1);
		l0 = (int)v;
		l1 = l0 + 1;
	}
	if (head_s && strcmp(head_s, "all")) {
		char *end;
		long v = strtol(head_s, &end, 10);
		if (*end || v < 0 || v >= heads)
			return sl_args_fail(a, "head=%s: 0..%d or all", head_s, heads - 1);
		h0 = (int)v;
		h1 = h0 + 1;
	}
	char out[4 * SL_PL_MAXLEN];
	r->tape->pool = sl_session_pool(s);
	if (sl_pl_translate(r->task, r->model, r->tape, word, 1, out, sizeof out) != SL_OK)
		return sl_fail(s, "%s", sl_error());
	/* teacher-forced pass over (word, its translation + EOS) to get full grids */
	int32_t src[SL_PL_MAXLEN], dec[4 * SL_PL_MAXLEN];
	const sl_pl_data *pd = sl_pl_task_data(r->task);
	int S = sl_pl_encode(pd, word, src, SL_PL_MAXLEN);
	int T = sl_pl_encode(pd, out, dec + 1, 4 * SL_PL_MAXLEN - 2);
	dec[0] = SL_PL_SOS;
	T += 1;
	sl_tape *tp = r->tape;
	sl_tape_reset(tp);
	tp->grad_enabled = 0;
	tp->training = 0;
	tp->pool = sl_session_pool(s);
	mk->seq2seq(r->model->impl, tp, src, dec, 1, S, T);
	/* labels: source characters; decoder inputs (^ = SOS) */
	char srcl[SL_PL_MAXLEN][4], decl[4 * SL_PL_MAXLEN][4];
	const char *rows[4 * SL_PL_MAXLEN], *cols[4 * SL_PL_MAXLEN];
	for (int i = 0; i < S; i++)
		snprintf(srcl[i], 4, "%c", sl_pl_char(src[i]));
	for (int i = 0; i < T; i++)
		snprintf(decl[i], 4, "%c", sl_pl_char(dec[i]));
	int Tq = kind == SL_ATTN_ENC ? S : T, Tk = kind == SL_ATTN_DEC ? T : S;
	for (int i = 0; i < Tq; i++)
		rows[i] = kind == SL_ATTN_ENC ? srcl[i] : decl[i];
	for (int j = 0; j < Tk; j++)
		cols[j] = kind == SL_ATTN_DEC ? decl[j] : srcl[j];
	int nm = (l1 - l0) * (h1 - h0);
	sl_view_matrix *m = sl_xcalloc((size_t)nm, sizeof *m);
	char (*titles)[32] = sl_xcalloc((size_t)nm, sizeof *titles);
	int k = 0;
	for (int l = l0; l < l1; l++)
		for (int h = h0; h < h1; h++, k++) {
			snprintf(titles[k], sizeof titles[k], "L%d H%d", l, h);
			m[k].title = titles[k];
			m[k].v = mk->attn_probs(r->model->impl, kind, l) + (size_t)h * Tq * Tk;
			m[k].rows = Tq;
			m[k].cols = Tk;
			m[k].row_labels = rows;
			m[k].col_labels = cols;
			m[k].fixed = 1;
			m[k].lo = 0;
			m[k].hi = 1;
		}
	char caption[512];
	snprintf(caption, sizeof caption, "%s attention of run %s: %s -> %s (rows attend to columns)", kind_names[kind],
		 r->name, word, out);
	sl_out(s, "run=%s word=%s output=%s kind=%s layers=%d..%d heads=%d..%d", r->name, word, out, kind_names[kind],
	       l0, l1 - 1, h0, h1 - 1);
	sl_view v = { .caption = caption, .n = nm, .m = m };
	sl_session_view(s, &v);
	free(m);
	free(titles);
	sl_tape_reset(tp);
	return SL_OK;
}

/* ---- runs, info ------------------------------------------------------------ */

/* The task's kind: piglatin, recall, mqar, copy. */
static const char *task_kind(const sl_task *t)
{
	const sl_gen_kind *k = sl_gen_task_kind(t);
	return k ? k->name : t->ops->name;
}

int sl_cmd_runs(sl_session *s, sl_args *a)
{
	sl_workbench *wb = sl_session_workbench(s);
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	sl_out(s, "runs=%d", wb->nruns);
	for (int i = 0; i < wb->nruns; i++) {
		sl_run *r = wb->runs[i];
		const sl_eval *e = r->nevals ? &r->evals[r->nevals - 1] : NULL;
		sl_out(s, "run=%s kind=%s task=%s params=%zu steps=%lld epochs=%lld val_acc=%.4f val_loss=%.4f train_s=%.1f%s",
		       r->name, r->model->kind->name, task_kind(r->task), sl_params_count(r->model->ps), (long long)r->step,
		       (long long)r->epoch,
		       e ? e->val_acc : NAN, e ? e->val_loss : NAN, r->seconds,
		       wb->job.active && wb->job.run == r ? " training=yes" : "");
	}
	return SL_OK;
}

/* The optimizer's parameter groups: one line per (lr multiplier, weight
 * decay) pair, with its tensors and the first few names. */
static void info_groups(sl_session *s, const sl_params *ps)
{
	int *seen = sl_xcalloc((size_t)ps->n + 1, sizeof *seen);
	for (int i = 0; i < ps->n; i++) {
		if (seen[i])
			continue;
		float sc = ps->lr_scale[i], cap = ps->lr_cap[i];
		int decay = !(ps->flags[i] & SL_PARAM_NO_DECAY), nt = 0;
		size_t count = 0, k = 0;
		char names[160] = "";
		for (int j = i; j < ps->n; j++)
			if (!seen[j] && ps->lr_scale[j] == sc && ps->lr_cap[j] == cap &&
			    (!(ps->flags[j] & SL_PARAM_NO_DECAY)) == decay) {
				seen[j] = 1;
				nt++;
				count += sl_tensor_numel(ps->t[j]);
				if (k < sizeof names - 1)
					k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", nt > 1 ? "," : "",
							      ps->t[j]->name);
			}
		if (k >= sizeof names - 1)
			memcpy(names + sizeof names - 4, "...", 4);
		char capv[32] = "";
		if (cap > 0.0f)
			snprintf(capv, sizeof capv, " lr_max=%g", cap);
		sl_out(s, "param_group lr_scale=%g%s decay=%s tensors=%d params=%zu names=%s", sc, capv, decay ? "on" : "off",
		       nt, count, names);
	}
	free(seen);
}

int sl_cmd_info(sl_session *s, sl_args *a)
{
	sl_run *r = take_run(s, a);
	if (!r)
		return SL_ERR;
	if (sl_args_end(a) != SL_OK)
		return SL_ERR;
	char spec[1024];
	sl_out(s, "run=%s params=%zu tensors=%d", r->name, sl_params_count(r->model->ps), r->model->ps->n);
	sl_out(s, "model=\"%s\"", sl_model_spec(r->model, spec, sizeof spec));
	/* the generation path: a step mode (a recurrent state, a key/value
	 * cache), or the whole model re-run for each token */
	sl_out(s, "decoding=%s", sl_model_decoding(r->model));
	if (r->model->kind->info) {
		char facts[512];
		r->model->kind->info(r->model->impl, facts, sizeof facts);
		sl_out(s, "%s", facts);
	}
	if (sl_model_fits(r->model))
		sl_out(s, "training=closed-form (a step fits the read-out on the epoch's data)");
	info_groups(s, r->model->ps);
	sl_out(s, "optim=%s lr=%g wd=%g clip=%g batch=%d accum=%d sched=%s warmup=%lld total_steps=%lld seed=%llu",
	       optim_names[r->ocfg.kind], r->ocfg.lr, r->ocfg.weight_decay, r->ocfg.clip, r->bsz, r->ocfg.accum,
	       sched_names[r->sched.kind], (long long)r->sched.warmup, (long long)r->sched.total,
	       (unsigned long long)r->seed);
	const sl_pl_data *d = sl_pl_task_data(r->task);
	sl_out(s, "task=\"%s\" batches_per_epoch=%d", r->task->desc, sl_run_epoch_batches(r, r->bsz));
	if (d)
		sl_out(s, "pairs=%d train=%d val=%d", d->n, d->ntrain, d->nval);
	sl_out(s, "steps=%lld epochs=%lld train_s=%.2f words=%lld evals=%d", (long long)r->step, (long long)r->epoch,
	       r->seconds, (long long)r->words_trained, r->nevals);
	return SL_OK;
}
