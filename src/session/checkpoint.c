/* checkpoint.c - a run's exact state in a safetensors file (write, read,
 * apply) and its history as CSV. Formats in checkpoint.h; saved sessions,
 * which are made of these, in savedir.c. */
#include "config.h"

#include "seqlab/checkpoint.h"
#include "seqlab/commands.h"
#include "seqlab/journal.h"
#include "seqlab/ops.h"
#include "seqlab/safetensors.h"
#include "seqlab/workbench.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPEC_MAX 4096
#define EVAL_COLS 9

/* ---- metadata fields: one table per struct ---- */

enum { T_I32, T_I64, T_U64, T_F32, T_F64 };

typedef struct field {
	const char *key;
	int type;
	size_t off;
} field;

#define FLD(k, t, s, m) { k, t, offsetof(s, m) }

static const field run_fields[] = {
	FLD("run.seed", T_U64, sl_run, seed),
	FLD("run.batch_size", T_I32, sl_run, bsz),
	FLD("run.shuffle", T_I32, sl_run, shuffle),
	FLD("run.step", T_I64, sl_run, step),
	FLD("run.epoch", T_I64, sl_run, epoch),
	FLD("run.batch", T_I32, sl_run, batch),
	FLD("run.seconds", T_F64, sl_run, seconds),
	FLD("run.tokens_since_eval", T_F64, sl_run, tokens_since_eval),
	FLD("run.loss_sum_since_eval", T_F64, sl_run, loss_sum_since_eval),
	FLD("run.words_trained", T_I64, sl_run, words_trained),
};

static const field ocfg_fields[] = {
	FLD("optim.lr", T_F32, sl_optim_config, lr),
	FLD("optim.weight_decay", T_F32, sl_optim_config, weight_decay),
	FLD("optim.momentum", T_F32, sl_optim_config, momentum),
	FLD("optim.dampening", T_F32, sl_optim_config, dampening),
	FLD("optim.nesterov", T_I32, sl_optim_config, nesterov),
	FLD("optim.beta1", T_F32, sl_optim_config, beta1),
	FLD("optim.beta2", T_F32, sl_optim_config, beta2),
	FLD("optim.eps", T_F32, sl_optim_config, eps),
	FLD("optim.clip", T_F32, sl_optim_config, clip),
	FLD("optim.accum", T_I32, sl_optim_config, accum),
};

static const field ostate_fields[] = {
	FLD("optim.step", T_I64, sl_optim, step),
	FLD("optim.micro", T_I32, sl_optim, micro),
	FLD("optim.skipped", T_I64, sl_optim, skipped),
	FLD("optim.live_lr", T_F32, sl_optim, lr),
	FLD("optim.grad_norm", T_F32, sl_optim, grad_norm),
	FLD("optim.clipped", T_I32, sl_optim, clipped),
};

static const field sched_fields[] = {
	FLD("sched.lr", T_F64, sl_sched, lr),
	FLD("sched.warmup", T_I64, sl_sched, warmup),
	FLD("sched.min_lr", T_F64, sl_sched, min_lr),
	FLD("sched.total", T_I64, sl_sched, total),
	FLD("sched.step_size", T_I64, sl_sched, step_size),
	FLD("sched.gamma", T_F64, sl_sched, gamma),
	FLD("sched.factor", T_F64, sl_sched, factor),
	FLD("sched.patience", T_I32, sl_sched, patience),
	FLD("sched.threshold", T_F64, sl_sched, threshold),
	FLD("sched.cooldown", T_I32, sl_sched, cooldown),
	FLD("sched.best", T_F64, sl_sched, best),
	FLD("sched.bad", T_I32, sl_sched, bad),
	FLD("sched.cooldown_left", T_I32, sl_sched, cooldown_left),
	FLD("sched.cur", T_F64, sl_sched, cur),
	FLD("sched.epochs", T_I64, sl_sched, epochs),
};

/* Metadata being built: keys are literals, values owned. */
typedef struct metas {
	sl_safetensors_meta m[96];
	int n;
} metas;

static void meta_add(metas *ms, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void meta_add(metas *ms, const char *key, const char *fmt, ...)
{
	SL_ASSERT(ms->n < (int)SL_COUNT(ms->m));
	char v[SPEC_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	ms->m[ms->n].key = key;
	ms->m[ms->n].value = sl_xstrdup(v);
	ms->n++;
}

static void metas_free(metas *ms)
{
	for (int i = 0; i < ms->n; i++)
		free((char *)ms->m[i].value);
	ms->n = 0;
}

static void meta_fields(metas *ms, const field *f, size_t n, const void *base)
{
	const char *b = base;
	for (size_t i = 0; i < n; i++) {
		const void *p = b + f[i].off;
		switch (f[i].type) {
		case T_I32:
			meta_add(ms, f[i].key, "%d", *(const int *)p);
			break;
		case T_I64:
			meta_add(ms, f[i].key, "%" PRId64, *(const int64_t *)p);
			break;
		case T_U64:
			meta_add(ms, f[i].key, "%" PRIu64, *(const uint64_t *)p);
			break;
		case T_F32:
			meta_add(ms, f[i].key, "%.9g", (double)*(const float *)p);
			break;
		default:
			meta_add(ms, f[i].key, "%.17g", *(const double *)p);
			break;
		}
	}
}

/* Parses the fields from st's metadata into base. SL_ERR naming the key. */
static int parse_fields(const sl_safetensors *st, const field *f, size_t n, void *base)
{
	char *b = base;
	for (size_t i = 0; i < n; i++) {
		const char *v = sl_safetensors_meta_get(st, f[i].key);
		if (!v) {
			sl_errorf("metadata '%s' is missing", f[i].key);
			return SL_ERR;
		}
		void *p = b + f[i].off;
		char *end = NULL;
		errno = 0;
		int ok = *v && !isspace((unsigned char)*v);
		switch (f[i].type) {
		case T_I32: {
			long long x = strtoll(v, &end, 10);
			ok = ok && x >= INT32_MIN && x <= INT32_MAX;
			*(int *)p = (int)x;
			break;
		}
		case T_I64:
			*(int64_t *)p = strtoll(v, &end, 10);
			break;
		case T_U64:
			ok = ok && *v != '-';
			*(uint64_t *)p = strtoull(v, &end, 10);
			break;
		case T_F32:
			*(float *)p = strtof(v, &end);
			break;
		default:
			*(double *)p = strtod(v, &end);
			break;
		}
		if (!ok || errno == ERANGE || !end || *end) {
			sl_errorf("metadata '%s' has a bad value '%.40s'", f[i].key, v);
			return SL_ERR;
		}
	}
	return SL_OK;
}

/* ---- the checksum over metadata and tensors ---- */

static int cmp_meta(const void *a, const void *b)
{
	return strcmp((*(const sl_safetensors_meta *const *)a)->key, (*(const sl_safetensors_meta *const *)b)->key);
}

static int cmp_tensor(const void *a, const void *b)
{
	return strcmp((*(const sl_safetensors_tensor *const *)a)->name,
		      (*(const sl_safetensors_tensor *const *)b)->name);
}

/* Every metadata entry but "checksum" and every tensor, in name order. */
static uint64_t content_hash(const sl_safetensors_meta *const *m, int nm, const sl_safetensors_tensor *const *t,
			     int nt)
{
	const sl_safetensors_meta **ms = sl_xmalloc((size_t)(nm + 1) * sizeof *ms);
	const sl_safetensors_tensor **ts = sl_xmalloc((size_t)(nt + 1) * sizeof *ts);
	memcpy(ms, m, (size_t)nm * sizeof *ms);
	memcpy(ts, t, (size_t)nt * sizeof *ts);
	qsort(ms, (size_t)nm, sizeof *ms, cmp_meta);
	qsort(ts, (size_t)nt, sizeof *ts, cmp_tensor);
	uint64_t h = SL_FNV_INIT;
	for (int i = 0; i < nm; i++) {
		if (!strcmp(ms[i]->key, "checksum"))
			continue;
		h = sl_fnv1a64(h, ms[i]->key, strlen(ms[i]->key) + 1);
		h = sl_fnv1a64(h, ms[i]->value, strlen(ms[i]->value) + 1);
	}
	for (int i = 0; i < nt; i++) {
		size_t es = sl_st_dtype_size(ts[i]->dtype), nb = es;
		for (int d = 0; d < ts[i]->ndim; d++)
			nb *= (size_t)ts[i]->shape[d];
		int64_t hdr[2 + SL_ST_MAXDIM] = { ts[i]->dtype, ts[i]->ndim };
		for (int d = 0; d < ts[i]->ndim; d++)
			hdr[2 + d] = ts[i]->shape[d];
		h = sl_fnv1a64(h, ts[i]->name, strlen(ts[i]->name) + 1);
		h = sl_fnv1a64(h, hdr, (size_t)(2 + ts[i]->ndim) * sizeof *hdr);
		if (nb && ts[i]->data)
			h = sl_fnv1a64(h, ts[i]->data, nb);
	}
	free(ms);
	free(ts);
	return h;
}

/* Hash of what the writer is given; then "checksum" is added to ms. */
static void add_checksum(metas *ms, const sl_safetensors_tensor *t, int nt)
{
	const sl_safetensors_meta **mp = sl_xmalloc((size_t)(ms->n + 1) * sizeof *mp);
	const sl_safetensors_tensor **tp = sl_xmalloc((size_t)(nt + 1) * sizeof *tp);
	for (int i = 0; i < ms->n; i++)
		mp[i] = &ms->m[i];
	for (int i = 0; i < nt; i++)
		tp[i] = &t[i];
	uint64_t h = content_hash(mp, ms->n, tp, nt);
	free(mp);
	free(tp);
	meta_add(ms, "checksum", "fnv1a64:%016" PRIx64, h);
}

/* Checks a file's "checksum" against its content: SL_OK, or SL_ERR. With
 * required 0, a file without one passes. */
static int verify_checksum(const sl_safetensors *st, int required)
{
	const char *want = sl_safetensors_meta_get(st, "checksum");
	if (!want) {
		if (!required)
			return SL_OK;
		sl_errorf("no checksum in its metadata (not a seqlab checkpoint, or damaged)");
		return SL_ERR;
	}
	int nm = sl_safetensors_meta_count(st), nt = sl_safetensors_count(st);
	const sl_safetensors_meta **mp = sl_xmalloc((size_t)(nm + 1) * sizeof *mp);
	const sl_safetensors_tensor **tp = sl_xmalloc((size_t)(nt + 1) * sizeof *tp);
	for (int i = 0; i < nm; i++)
		mp[i] = sl_safetensors_meta_at(st, i);
	for (int i = 0; i < nt; i++)
		tp[i] = sl_safetensors_at(st, i);
	uint64_t h = content_hash(mp, nm, tp, nt);
	free(mp);
	free(tp);
	char got[64];
	snprintf(got, sizeof got, "fnv1a64:%016" PRIx64, h);
	if (strcmp(got, want) != 0) {
		sl_errorf("damaged: the checksum does not match its content");
		return SL_ERR;
	}
	return SL_OK;
}

/* ---- writing a checkpoint ---- */

static sl_safetensors_tensor block_tensor(const sl_params *ps, int i, const float *block, const char *name)
{
	sl_safetensors_tensor t = sl_safetensors_tensor_of(ps->t[i], name);
	t.data = block + ps->offset[i];
	return t;
}

/* Metadata shared by checkpoints and model files. */
static void meta_common(metas *ms, const char *format, const sl_run *r)
{
	char spec[SPEC_MAX];
	meta_add(ms, "format", "%s", format);
	meta_add(ms, "format_version", "%d", SL_CHECKPOINT_VERSION);
	meta_add(ms, "seqlab_version", "%s", PACKAGE_VERSION);
	meta_add(ms, "run", "%s", r->name);
	meta_add(ms, "model", "%s", sl_model_spec(r->model, spec, sizeof spec));
	meta_add(ms, "task", "%s", r->task->desc);
	meta_add(ms, "task_vocab", "%d", r->task->shape.vocab);
	meta_add(ms, "task_maxlen", "%d", r->task->shape.maxlen);
}

/* The mistakes as "src\tout\twant\n" lines; *len receives the length. */
static char *mistakes_text(const sl_mistakes *mk, size_t *len)
{
	size_t n = 0;
	for (int i = 0; i < mk->n; i++)
		n += strlen(mk->src[i]) + strlen(mk->out[i]) + strlen(mk->want[i]) + 3;
	char *b = sl_xmalloc(n + 1), *p = b;
	for (int i = 0; i < mk->n; i++)
		p += sprintf(p, "%s\t%s\t%s\n", mk->src[i], mk->out[i], mk->want[i]);
	*len = n;
	return b;
}

int sl_checkpoint_save(const char *path, const sl_run *r)
{
	const sl_params *ps = r->model->ps;
	const sl_optim *o = r->opt;
	int cap = 4 * ps->n + 8, n = 0;
	sl_safetensors_tensor *t = sl_xcalloc((size_t)cap, sizeof *t);
	char **names = sl_xcalloc((size_t)cap, sizeof *names);
	for (int i = 0; i < ps->n; i++) {
		const char *pn = ps->t[i]->name;
		size_t len = strlen(pn) + 16;
		names[n] = sl_xmalloc(len);
		snprintf(names[n], len, "param.%s", pn);
		t[n] = block_tensor(ps, i, ps->data, names[n]);
		n++;
		if (o->m) {
			names[n] = sl_xmalloc(len);
			snprintf(names[n], len, "optim.m.%s", pn);
			t[n] = block_tensor(ps, i, o->m, names[n]);
			n++;
		}
		if (o->v) {
			names[n] = sl_xmalloc(len);
			snprintf(names[n], len, "optim.v.%s", pn);
			t[n] = block_tensor(ps, i, o->v, names[n]);
			n++;
		}
		if (o->micro > 0) { /* mid-accumulation: the gradient so far */
			names[n] = sl_xmalloc(len);
			snprintf(names[n], len, "grad.%s", pn);
			t[n] = block_tensor(ps, i, ps->grad, names[n]);
			n++;
		}
	}
	t[n++] = (sl_safetensors_tensor){ .name = "history.loss", .dtype = SL_ST_F32, .ndim = 1,
					  .shape = { r->nsteps }, .data = r->loss };
	t[n++] = (sl_safetensors_tensor){ .name = "history.lr", .dtype = SL_ST_F32, .ndim = 1,
					  .shape = { r->nsteps }, .data = r->lr };
	double *ev = sl_xcalloc((size_t)r->nevals * EVAL_COLS + 1, sizeof *ev);
	for (int i = 0; i < r->nevals; i++) {
		const sl_eval *e = &r->evals[i];
		double row[EVAL_COLS] = { (double)e->step, (double)e->epoch, e->seconds, e->train_loss, e->val_loss,
					  e->val_acc, e->cer, e->words, e->correct };
		memcpy(ev + (size_t)i * EVAL_COLS, row, sizeof row);
	}
	t[n++] = (sl_safetensors_tensor){ .name = "history.evals", .dtype = SL_ST_F64, .ndim = 2,
					  .shape = { r->nevals, EVAL_COLS }, .data = ev };
	size_t mlen;
	char *mk = mistakes_text(&r->mistakes, &mlen);
	t[n++] = (sl_safetensors_tensor){ .name = "mistakes", .dtype = SL_ST_U8, .ndim = 1,
					  .shape = { (int64_t)mlen }, .data = mk };

	metas ms = { .n = 0 };
	meta_common(&ms, "seqlab-checkpoint", r);
	meta_fields(&ms, run_fields, SL_COUNT(run_fields), r);
	meta_add(&ms, "optim.kind", "%s", sl_optim_kind_name(r->ocfg.kind));
	meta_fields(&ms, ocfg_fields, SL_COUNT(ocfg_fields), &r->ocfg);
	meta_fields(&ms, ostate_fields, SL_COUNT(ostate_fields), o);
	meta_add(&ms, "sched.kind", "%s", sl_sched_kind_name(r->sched.kind));
	meta_fields(&ms, sched_fields, SL_COUNT(sched_fields), &r->sched);
	add_checksum(&ms, t, n);
	int st = sl_safetensors_write(path, t, n, ms.m, ms.n);
	metas_free(&ms);
	for (int i = 0; i < cap; i++)
		free(names[i]);
	free(names);
	free(t);
	free(ev);
	free(mk);
	return st;
}

/* ---- reading a checkpoint ---- */

struct sl_checkpoint {
	sl_safetensors *st;
	char *path;
};

sl_checkpoint *sl_checkpoint_load(const char *path)
{
	sl_safetensors *st = sl_safetensors_load(path);
	if (!st)
		return NULL; /* "PATH: problem" */
	const char *fmt = sl_safetensors_meta_get(st, "format");
	const char *ver = sl_safetensors_meta_get(st, "format_version");
	char want[16];
	snprintf(want, sizeof want, "%d", SL_CHECKPOINT_VERSION);
	if (!fmt || strcmp(fmt, "seqlab-checkpoint") != 0) {
		sl_errorf("%s: not a seqlab checkpoint (its metadata has no format=seqlab-checkpoint)", path);
		goto fail;
	}
	if (!ver || strcmp(ver, want) != 0) {
		sl_errorf("%s: checkpoint format version %s (this seqlab reads %s)", path, ver ? ver : "missing", want);
		goto fail;
	}
	if (verify_checksum(st, 1) != SL_OK) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", sl_error());
		sl_errorf("%s: %s", path, msg);
		goto fail;
	}
	sl_checkpoint *c = sl_xcalloc(1, sizeof *c);
	c->st = st;
	c->path = sl_xstrdup(path);
	return c;
fail:
	sl_safetensors_free(st);
	return NULL;
}

void sl_checkpoint_free(sl_checkpoint *c)
{
	if (!c)
		return;
	sl_safetensors_free(c->st);
	free(c->path);
	free(c);
}

const char *sl_checkpoint_meta(const sl_checkpoint *c, const char *key)
{
	return sl_safetensors_meta_get(c->st, key);
}

/* The tensor name of dtype and exactly the shape (ndim dims), or NULL with
 * the error set. */
static const sl_safetensors_tensor *want_tensor(const sl_safetensors *st, const char *name, int dtype, int ndim,
						const int64_t *shape)
{
	const sl_safetensors_tensor *t = sl_safetensors_find(st, name);
	if (!t) {
		sl_errorf("tensor '%s' is missing", name);
		return NULL;
	}
	int ok = t->dtype == dtype && t->ndim == ndim;
	for (int d = 0; ok && d < ndim; d++)
		ok = t->shape[d] == shape[d];
	if (!ok) {
		sl_errorf("tensor '%s' has the wrong dtype or shape", name);
		return NULL;
	}
	return t;
}

static int check_apply(const sl_checkpoint *c, sl_run *r, sl_run *tr, sl_optim_config *oc, sl_optim *os,
		       sl_sched *sc)
{
	const sl_safetensors *st = c->st;
	char spec[SPEC_MAX];
	const char *model = sl_safetensors_meta_get(st, "model");
	const char *task = sl_safetensors_meta_get(st, "task");
	sl_model_spec(r->model, spec, sizeof spec);
	if (!model || strcmp(model, spec) != 0) {
		sl_errorf("its model '%s' is not run %s's '%s'", model ? model : "(missing)", r->name, spec);
		return SL_ERR;
	}
	if (!task || strcmp(task, r->task->desc) != 0) {
		sl_errorf("its task '%s' is not run %s's '%s'", task ? task : "(missing)", r->name, r->task->desc);
		return SL_ERR;
	}
	if (parse_fields(st, run_fields, SL_COUNT(run_fields), tr) != SL_OK ||
	    parse_fields(st, ocfg_fields, SL_COUNT(ocfg_fields), oc) != SL_OK ||
	    parse_fields(st, ostate_fields, SL_COUNT(ostate_fields), os) != SL_OK ||
	    parse_fields(st, sched_fields, SL_COUNT(sched_fields), sc) != SL_OK)
		return SL_ERR;
	const char *ok_ = sl_safetensors_meta_get(st, "optim.kind"), *sk = sl_safetensors_meta_get(st, "sched.kind");
	oc->kind = ok_ ? sl_optim_kind_from_name(ok_) : -1;
	sc->kind = sk ? sl_sched_kind_from_name(sk) : -1;
	if (oc->kind < 0 || sc->kind < 0) {
		sl_errorf("metadata optim.kind or sched.kind is missing or unknown");
		return SL_ERR;
	}
	/* the settings pass the checks of the `optim` command that sets them */
	if (sl_workbench_check_optim(oc, sc, tr->bsz) != SL_OK)
		return SL_ERR;
	if (os->step < 0 || os->skipped < 0 || os->skipped > 1000000000000LL || os->micro < 0 ||
	    os->micro >= oc->accum || !isfinite(os->lr) || !(os->lr >= 0) || !isfinite(os->grad_norm) || (os->clipped != 0 && os->clipped != 1)) {
		sl_errorf("its optimizer state is out of range");
		return SL_ERR;
	}
	/* the counters: what training can reach (a train command asks for at
	 * most 10^12 steps; every step consumes accum batches of bsz sequences) */
	if ((tr->shuffle != 0 && tr->shuffle != 1) || tr->step < 0 || tr->step > 1000000000000LL || tr->epoch < 0 ||
	    tr->epoch > (tr->step + os->skipped + 1) * oc->accum || tr->batch < 0 || tr->words_trained < 0 ||
	    (double)tr->words_trained > ((double)tr->step + 1) * 1024 * 65536 || !(tr->seconds >= 0) ||
	    !isfinite(tr->seconds) || !(tr->tokens_since_eval >= 0) || !isfinite(tr->tokens_since_eval) ||
	    !isfinite(tr->loss_sum_since_eval)) {
		sl_errorf("its cursor or counters are out of range (run.step=%" PRId64 " run.epoch=%" PRId64 ")",
			  tr->step, tr->epoch);
		return SL_ERR;
	}
	if (os->step > tr->step) {
		sl_errorf("its step counts disagree");
		return SL_ERR;
	}
	void *plan = r->task->ops->plan_new(r->task, tr->bsz, tr->seed, tr->epoch, tr->shuffle);
	int nb = r->task->ops->plan_batches(plan);
	r->task->ops->plan_free(plan);
	if (tr->batch >= nb) {
		sl_errorf("its data cursor (batch %d) is past the epoch's %d batches", tr->batch, nb);
		return SL_ERR;
	}
	return SL_OK;
}

/* The tensors a checkpoint must hold for run r with optimizer o, located
 * and checked before anything changes. */
typedef struct located {
	const sl_safetensors_tensor **pt;  /* (n, 4): param., optim.m., optim.v., grad. of each parameter */
	const sl_safetensors_tensor *loss, *lr, *evals, *mistakes;
	int expect;                         /* tensors counted */
} located;

/* Every parameter's value, moments and (mid-accumulation) gradient. */
static int locate_params(const sl_safetensors *st, const sl_params *ps, const sl_optim *o, const sl_optim *os,
			 int kind, located *L)
{
	for (int i = 0; i < ps->n; i++) {
		const sl_tensor *p = ps->t[i];
		int64_t shape[SL_ST_MAXDIM];
		for (int d = 0; d < p->ndim; d++)
			shape[d] = p->shape[d];
		char name[512];
		const char *pre[4] = { "param.", "optim.m.", "optim.v.", "grad." };
		int has[4] = { 1, o->m != NULL, o->v != NULL, os->micro > 0 };
		for (int k = 0; k < 4; k++) {
			snprintf(name, sizeof name, "%s%s", pre[k], p->name);
			if (!has[k]) {
				if (sl_safetensors_find(st, name)) {
					sl_errorf("tensor '%s' does not belong to this %s optimizer", name,
						  sl_optim_kind_name(kind));
					return SL_ERR;
				}
				continue;
			}
			L->pt[4 * i + k] = want_tensor(st, name, SL_ST_F32, p->ndim, shape);
			if (!L->pt[4 * i + k])
				return SL_ERR;
			L->expect++;
		}
	}
	return SL_OK;
}

/* The history (one loss and lr a step, the evaluations) and the mistakes,
 * which must agree with the run's step count. */
static int locate_history(const sl_safetensors *st, int64_t step, located *L)
{
	const sl_safetensors_tensor *tl = sl_safetensors_find(st, "history.loss");
	int64_t nsteps = tl && tl->ndim == 1 ? tl->shape[0] : -1;
	int64_t sh1[1] = { nsteps };
	if (!tl || nsteps > INT32_MAX) {
		sl_errorf("tensor 'history.loss' is missing or has the wrong shape");
		return SL_ERR;
	}
	if (nsteps != step) {
		/* every step adds one entry: a cursor that disagrees was changed */
		sl_errorf("run.step=%" PRId64 " but its history has %" PRId64 " steps", step, nsteps);
		return SL_ERR;
	}
	if (!(L->loss = want_tensor(st, "history.loss", SL_ST_F32, 1, sh1)) ||
	    !(L->lr = want_tensor(st, "history.lr", SL_ST_F32, 1, sh1)))
		return SL_ERR;
	const sl_safetensors_tensor *tev = sl_safetensors_find(st, "history.evals");
	int64_t sh2[2] = { tev && tev->ndim == 2 ? tev->shape[0] : -1, EVAL_COLS };
	if (sh2[0] > INT32_MAX)
		sh2[0] = -1;
	if (!(L->evals = want_tensor(st, "history.evals", SL_ST_F64, 2, sh2)))
		return SL_ERR;
	const sl_safetensors_tensor *tmk = sl_safetensors_find(st, "mistakes");
	if (!tmk || tmk->dtype != SL_ST_U8 || tmk->ndim != 1) {
		sl_errorf("tensor 'mistakes' is missing or has the wrong dtype or shape");
		return SL_ERR;
	}
	L->mistakes = tmk;
	return SL_OK;
}

/* The mistakes: lines of three tab-separated fields. */
static int check_mistakes(const char *mk, size_t mlen)
{
	if (mlen && (mk[mlen - 1] != '\n' || memchr(mk, 0, mlen))) {
		sl_errorf("tensor 'mistakes' is not lines of text");
		return SL_ERR;
	}
	for (size_t p = 0; p < mlen;) {
		const char *e = memchr(mk + p, '\n', mlen - p);
		int tabs = 0;
		for (const char *q = mk + p; q < e; q++)
			tabs += *q == '\t';
		if (tabs != 2) {
			sl_errorf("tensor 'mistakes' has a line without three fields");
			return SL_ERR;
		}
		p = (size_t)(e - mk) + 1;
	}
	return SL_OK;
}

/* Commits the parameters, moments and optimizer, schedule and cursor. */
static void commit_state(sl_run *r, const sl_run *tr, const located *L, sl_optim *o, const sl_optim *os,
			 const sl_optim_config *oc, const sl_sched *sc)
{
	sl_params *ps = r->model->ps;
	sl_params_zero_grad(ps);
	for (int i = 0; i < ps->n; i++) {
		size_t off = ps->offset[i], nb = L->pt[4 * i]->nbytes;
		memcpy(ps->data + off, L->pt[4 * i]->data, nb);
		if (o->m)
			memcpy(o->m + off, L->pt[4 * i + 1]->data, nb);
		if (o->v)
			memcpy(o->v + off, L->pt[4 * i + 2]->data, nb);
		if (os->micro > 0)
			memcpy(ps->grad + off, L->pt[4 * i + 3]->data, nb);
	}
	o->step = os->step;
	o->micro = os->micro;
	o->skipped = os->skipped;
	o->lr = os->lr;
	o->grad_norm = os->grad_norm;
	o->clipped = os->clipped;
	sl_optim_free(r->opt);
	r->opt = o;
	r->ocfg = *oc;
	r->sched = *sc;
	if (r->plan)
		r->task->ops->plan_free(r->plan);
	r->plan = NULL;
	r->seed = tr->seed;
	r->bsz = tr->bsz;
	r->shuffle = tr->shuffle;
	r->step = tr->step;
	r->epoch = tr->epoch;
	r->batch = tr->batch;
	r->seconds = tr->seconds;
	r->tokens_since_eval = tr->tokens_since_eval;
	r->loss_sum_since_eval = tr->loss_sum_since_eval;
	r->words_trained = tr->words_trained;
}

/* Commits the history and the mistakes. */
static void commit_history(sl_run *r, const located *L)
{
	int nsteps = (int)L->loss->shape[0], nevals = (int)L->evals->shape[0];
	free(r->loss);
	free(r->lr);
	r->capsteps = nsteps ? nsteps : 0;
	r->loss = nsteps ? sl_xmalloc((size_t)nsteps * sizeof *r->loss) : NULL;
	r->lr = nsteps ? sl_xmalloc((size_t)nsteps * sizeof *r->lr) : NULL;
	if (nsteps) {
		memcpy(r->loss, L->loss->data, (size_t)nsteps * sizeof *r->loss);
		memcpy(r->lr, L->lr->data, (size_t)nsteps * sizeof *r->lr);
	}
	r->nsteps = nsteps;
	free(r->evals);
	r->capevals = nevals;
	r->evals = nevals ? sl_xcalloc((size_t)nevals, sizeof *r->evals) : NULL;
	r->nevals = nevals;
	for (int i = 0; i < nevals; i++) {
		double row[EVAL_COLS];
		memcpy(row, (const char *)L->evals->data + (size_t)i * sizeof row, sizeof row);
		sl_eval *e = &r->evals[i];
		e->step = (int64_t)row[0];
		e->epoch = (int64_t)row[1];
		e->seconds = row[2];
		e->train_loss = row[3];
		e->val_loss = row[4];
		e->val_acc = row[5];
		e->cer = row[6];
		e->words = (int)row[7];
		e->correct = (int)row[8];
	}
	sl_mistakes_clear(&r->mistakes);
	const char *mk = L->mistakes->data;
	size_t mlen = L->mistakes->nbytes;
	for (size_t p = 0; p < mlen;) {
		const char *e = memchr(mk + p, '\n', mlen - p);
		size_t len = (size_t)(e - (mk + p));
		char *line = sl_xmalloc(len + 1);
		memcpy(line, mk + p, len);
		line[len] = 0;
		char *t1 = strchr(line, '\t'), *t2 = strchr(t1 + 1, '\t');
		*t1 = *t2 = 0;
		sl_mistakes_add(&r->mistakes, line, t1 + 1, t2 + 1);
		free(line);
		p += len + 1;
	}
}

int sl_checkpoint_apply(const sl_checkpoint *c, sl_run *r, sl_pool *pool)
{
	const sl_safetensors *st = c->st;
	sl_run tr;
	sl_optim_config oc;
	sl_optim os;
	sl_sched sc;
	memset(&tr, 0, sizeof tr);
	memset(&oc, 0, sizeof oc);
	memset(&os, 0, sizeof os);
	memset(&sc, 0, sizeof sc);
	if (check_apply(c, r, &tr, &oc, &os, &sc) != SL_OK)
		return SL_ERR;
	sl_params *ps = r->model->ps;
	sl_optim *o = sl_optim_new(&oc, ps, pool);
	if (!o)
		return SL_ERR;
	/* every tensor checked before anything changes */
	located L = { .pt = sl_xcalloc((size_t)ps->n * 4 + 1, sizeof *L.pt), .expect = 4 };
	int bad = locate_params(st, ps, o, &os, oc.kind, &L) != SL_OK || locate_history(st, tr.step, &L) != SL_OK;
	if (!bad && sl_safetensors_count(st) != L.expect) {
		sl_errorf("it holds %d tensors where %d were expected", sl_safetensors_count(st), L.expect);
		bad = 1;
	}
	bad = bad || check_mistakes(L.mistakes->data, L.mistakes->nbytes) != SL_OK;
	if (bad) {
		free(L.pt);
		sl_optim_free(o);
		return SL_ERR;
	}
	commit_state(r, &tr, &L, o, &os, &oc, &sc);
	commit_history(r, &L);
	free(L.pt);
	return SL_OK;
}

/* ---- model files ---- */

int sl_checkpoint_export(const char *path, const sl_run *r)
{
	const sl_params *ps = r->model->ps;
	sl_safetensors_tensor *t = sl_xcalloc((size_t)ps->n + 1, sizeof *t);
	for (int i = 0; i < ps->n; i++)
		t[i] = sl_safetensors_tensor_of(ps->t[i], NULL);
	metas ms = { .n = 0 };
	meta_common(&ms, "seqlab-model", r);
	meta_add(&ms, "step", "%" PRId64, r->step);
	meta_add(&ms, "epoch", "%" PRId64, r->epoch);
	if (r->nevals) {
		meta_add(&ms, "val_acc", "%.17g", r->evals[r->nevals - 1].val_acc);
		meta_add(&ms, "val_loss", "%.17g", r->evals[r->nevals - 1].val_loss);
	}
	add_checksum(&ms, t, ps->n);
	int st = sl_safetensors_write(path, t, ps->n, ms.m, ms.n);
	metas_free(&ms);
	free(t);
	return st;
}

int sl_checkpoint_verify(const sl_safetensors *st)
{
	return verify_checksum(st, 0);
}

/* ---- the CSV history ---- */

int sl_checkpoint_write_csv(const char *path, const sl_run *r)
{
	size_t cap = 256 + (size_t)r->nsteps * 80 + (size_t)r->nevals * 320, n = 0;
	char *b = sl_xmalloc(cap);
	n += (size_t)snprintf(b + n, cap - n, "kind,step,epoch,loss,lr,train_loss,val_loss,val_acc,cer,words,correct,seconds\n");
	int e = 0;
	for (int i = 0; i <= r->nsteps; i++) {
		/* evaluations at step i come after the step's row */
		if (i > 0)
			n += (size_t)snprintf(b + n, cap - n, "train,%d,,%.9g,%.9g,,,,,,,\n", i, (double)r->loss[i - 1],
					      (double)r->lr[i - 1]);
		for (; e < r->nevals && (r->evals[e].step <= i || i == r->nsteps); e++) {
			const sl_eval *v = &r->evals[e];
			n += (size_t)snprintf(b + n, cap - n, "eval,%" PRId64 ",%" PRId64 ",,,%.17g,%.17g,%.17g,%.17g,%d,%d,%.6f\n",
					      v->step, v->epoch, v->train_loss, v->val_loss, v->val_acc, v->cer, v->words,
					      v->correct, v->seconds);
		}
	}
	SL_ASSERT(n < cap);
	int st = sl_write_new_file(path, b, n);
	free(b);
	return st;
}

static int near(double a, double b, double tol)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	if (a == b)
		return 1;
	return fabs(a - b) <= tol * fmax(fabs(a), fabs(b));
}

struct differ {
	int n, max;
	void (*diff)(void *, const char *);
	void *ctx;
};

static void differ_add(struct differ *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void differ_add(struct differ *d, const char *fmt, ...)
{
	if (d->n++ >= d->max)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	d->diff(d->ctx, line);
}

int sl_checkpoint_compare_csv(const char *path, const sl_run *r, double tol, int max,
			      void (*diff)(void *ctx, const char *line), void *ctx)
{
	size_t len;
	char *text = sl_session_read_file_len(path, &len);
	if (!text)
		return -1;
	struct differ d = { .max = max, .diff = diff, .ctx = ctx };
	int steps = 0, evals = 0, lineno = 0, bad = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (lineno == 1) {
			if (strncmp(line, "kind,step,", 10) != 0)
				bad = 1;
			continue;
		}
		char *f[12];
		if (sl_split(line, ',', f, 12) != 12) {
			bad = 1;
			break;
		}
		char *end;
		if (!strcmp(f[0], "train")) {
			long step = strtol(f[1], &end, 10);
			float loss = strtof(f[3], NULL), lr = strtof(f[4], NULL);
			if (step != steps + 1) {
				bad = 1;
				break;
			}
			steps++;
			if (step > r->nsteps)
				continue;
			if (!near(loss, r->loss[step - 1], tol))
				differ_add(&d, "run=%s step=%ld loss=%.9g recorded=%.9g", r->name, step,
					   (double)r->loss[step - 1], (double)loss);
			if (!near(lr, r->lr[step - 1], tol))
				differ_add(&d, "run=%s step=%ld lr=%.9g recorded=%.9g", r->name, step,
					   (double)r->lr[step - 1], (double)lr);
		} else if (!strcmp(f[0], "eval")) {
			int i = evals++;
			if (i >= r->nevals)
				continue;
			const sl_eval *e = &r->evals[i];
			double rec[8] = { strtod(f[1], NULL), strtod(f[2], NULL), strtod(f[5], NULL), strtod(f[6], NULL),
					  strtod(f[7], NULL), strtod(f[8], NULL), strtod(f[9], NULL), strtod(f[10], NULL) };
			double got[8] = { (double)e->step, (double)e->epoch, e->train_loss, e->val_loss, e->val_acc, e->cer,
					  e->words, e->correct };
			static const char *const what[8] = { "step", "epoch", "train_loss", "val_loss",
							     "val_acc", "cer", "words", "correct" };
			for (int k = 0; k < 8; k++)
				if (!near(got[k], rec[k], k < 2 || k > 5 ? 0 : tol))
					differ_add(&d, "run=%s eval=%d %s=%.17g recorded=%.17g", r->name, i + 1, what[k],
						   got[k], rec[k]);
		} else {
			bad = 1;
			break;
		}
	}
	free(text);
	if (bad || lineno == 0) {
		sl_errorf("%s: not a seqlab history (line %d)", path, lineno);
		return -1;
	}
	if (steps != r->nsteps)
		differ_add(&d, "run=%s steps=%d recorded=%d", r->name, r->nsteps, steps);
	if (evals != r->nevals)
		differ_add(&d, "run=%s evals=%d recorded=%d", r->name, r->nevals, evals);
	if (d.n > d.max) {
		char more[160];
		snprintf(more, sizeof more, "run=%s ... %d more differences", r->name, d.n - d.max);
		diff(ctx, more);
	}
	return d.n;
}

