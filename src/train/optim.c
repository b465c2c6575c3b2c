/* optim.c - SGD, Adam and AdamW over the parameter store's blocks, with
 * clipping, accumulation and the NaN guard (formulas in optim.h).
 *
 * The update is elementwise, so any partition gives the same bits; it is split
 * over the pool by element ranges. The gradient norm is a sum of squares in
 * double over fixed chunks of NORM_CHUNK elements, each summed in order, and
 * the chunk sums are added in order: the bits depend on neither the thread
 * count nor timing. */
#include "seqlab/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NORM_CHUNK 16384
/* Below this many elements the update and the norm run on one thread. */
#define PAR_MIN_ELEMS 65536

/* A parameter's elements [lo, hi) in the blocks and whether it decays. */
typedef struct sl_optim_seg {
	size_t lo, hi;
	int decay;
	float lr_scale;      /* the parameter's group: its lr is lr x lr_scale, */
	float lr_cap;        /* at most lr_cap (0: no cap) */
} sl_optim_seg;

static const char *const kind_names[SL_OPTIM_KIND_COUNT] = { "sgd", "adam", "adamw" };

const char *sl_optim_kind_name(int kind)
{
	return kind >= 0 && kind < SL_OPTIM_KIND_COUNT ? kind_names[kind] : "?";
}

int sl_optim_kind_from_name(const char *name)
{
	for (int k = 0; k < SL_OPTIM_KIND_COUNT; k++)
		if (strcasecmp(name, kind_names[k]) == 0)
			return k;
	return -1;
}

sl_optim_config sl_optim_defaults(int kind)
{
	sl_optim_config c = { 0 };
	c.kind = kind;
	c.lr = kind == SL_OPTIM_SGD ? 0.01f : 1e-3f;
	c.beta1 = 0.9f;
	c.beta2 = 0.999f;
	c.eps = 1e-8f;
	c.weight_decay = kind == SL_OPTIM_ADAMW ? 0.01f : 0.0f;
	c.accum = 1;
	return c;
}

int sl_optim_config_check(const sl_optim_config *c)
{
	if (c->kind < 0 || c->kind >= SL_OPTIM_KIND_COUNT) {
		sl_errorf("unknown optimizer kind %d", c->kind);
		return SL_ERR;
	}
	if (!(c->lr >= 0.0f) || isinf(c->lr)) {
		sl_errorf("learning rate must be finite and >= 0 (got %g)", (double)c->lr);
		return SL_ERR;
	}
	if (!(c->weight_decay >= 0.0f) || isinf(c->weight_decay)) {
		sl_errorf("weight decay must be finite and >= 0 (got %g)", (double)c->weight_decay);
		return SL_ERR;
	}
	if (!(c->momentum >= 0.0f && c->momentum < 1.0f)) {
		sl_errorf("momentum must be in [0, 1) (got %g)", (double)c->momentum);
		return SL_ERR;
	}
	if (!(c->dampening >= 0.0f && c->dampening <= 1.0f)) {
		sl_errorf("dampening must be in [0, 1] (got %g)", (double)c->dampening);
		return SL_ERR;
	}
	if (c->nesterov && (c->momentum <= 0.0f || c->dampening != 0.0f)) {
		sl_errorf("nesterov momentum needs momentum > 0 and dampening 0");
		return SL_ERR;
	}
	if (!(c->beta1 >= 0.0f && c->beta1 < 1.0f) || !(c->beta2 >= 0.0f && c->beta2 < 1.0f)) {
		sl_errorf("betas must be in [0, 1) (got %g, %g)", (double)c->beta1, (double)c->beta2);
		return SL_ERR;
	}
	if (!(c->eps >= 0.0f) || isinf(c->eps)) {
		sl_errorf("eps must be finite and >= 0 (got %g)", (double)c->eps);
		return SL_ERR;
	}
	if (!(c->clip >= 0.0f) || isinf(c->clip)) {
		sl_errorf("clip must be finite and >= 0 (got %g; 0 = off)", (double)c->clip);
		return SL_ERR;
	}
	if (c->accum < 1) {
		sl_errorf("accum must be >= 1 (got %d)", c->accum);
		return SL_ERR;
	}
	return SL_OK;
}

static float *block_new(size_t total)
{
	size_t bytes = (total ? total : 16) * sizeof(float);
	float *b = sl_xaligned(bytes);
	memset(b, 0, bytes);
	return b;
}

sl_optim *sl_optim_new(const sl_optim_config *cfg, sl_params *ps, sl_pool *pool)
{
	SL_ASSERT(ps->allocated);
	if (sl_optim_config_check(cfg) != SL_OK)
		return NULL;
	sl_optim *o = sl_xcalloc(1, sizeof *o);
	o->cfg = *cfg;
	o->ps = ps;
	o->pool = pool;
	o->lr = cfg->lr;
	if (cfg->kind != SL_OPTIM_SGD || cfg->momentum > 0.0f)
		o->m = block_new(ps->total);
	if (cfg->kind != SL_OPTIM_SGD)
		o->v = block_new(ps->total);
	o->nseg = ps->n;
	o->seg = sl_xcalloc((size_t)(ps->n ? ps->n : 1), sizeof *o->seg);
	for (int i = 0; i < ps->n; i++) {
		o->seg[i].lo = ps->offset[i];
		o->seg[i].hi = ps->offset[i] + sl_tensor_numel(ps->t[i]);
		o->seg[i].decay = !(ps->flags[i] & SL_PARAM_NO_DECAY);
		o->seg[i].lr_scale = ps->lr_scale[i];
		o->seg[i].lr_cap = ps->lr_cap[i];
	}
	o->nchunk = (ps->total + NORM_CHUNK - 1) / NORM_CHUNK;
	o->partial = sl_xcalloc(o->nchunk ? o->nchunk : 1, sizeof *o->partial);
	return o;
}

void sl_optim_free(sl_optim *o)
{
	if (!o)
		return;
	free(o->m);
	free(o->v);
	free(o->seg);
	free(o->partial);
	free(o);
}

void sl_optim_reset(sl_optim *o)
{
	size_t bytes = o->ps->total * sizeof(float);
	o->step = 0;
	o->micro = 0;
	o->skipped = 0;
	o->grad_norm = 0.0f;
	o->clipped = 0;
	if (o->m)
		memset(o->m, 0, bytes);
	if (o->v)
		memset(o->v, 0, bytes);
	sl_params_zero_grad(o->ps);
}

/* ---- gradient norm -------------------------------------------------------- */

/* The sums of G whole chunks from chunk c side by side: G independent
 * chains of adds the processor overlaps, where one chunk alone waits on each
 * add; each chunk's sum still runs over its elements in index order. */
static inline __attribute__((always_inline)) void norm_group(const float *g, double *partial, size_t c, const int G)
{
	const float *gc = g + c * NORM_CHUNK;
	double s[8] = { 0 };
	for (size_t i = 0; i < NORM_CHUNK; i++)
		for (int k = 0; k < G; k++)
			s[k] += (double)gc[k * NORM_CHUNK + i] * (double)gc[k * NORM_CHUNK + i];
	for (int k = 0; k < G; k++)
		partial[c + k] = s[k];
}

static void norm_chunks(void *arg, size_t lo, size_t hi)
{
	sl_optim *o = arg;
	const float *g = o->ps->grad;
	size_t total = o->ps->total, whole = SL_MIN(hi, total / NORM_CHUNK), c = lo;
	for (; c + 8 <= whole; c += 8)
		norm_group(g, o->partial, c, 8);
	for (; c + 4 <= whole; c += 4)
		norm_group(g, o->partial, c, 4);
	for (; c + 2 <= whole; c += 2)
		norm_group(g, o->partial, c, 2);
	for (; c < hi; c++) { /* the rest one at a time, the last chunk perhaps short */
		size_t a = c * NORM_CHUNK, b = SL_MIN(a + NORM_CHUNK, total);
		double s = 0.0;
		/* s = sum_i g_i^2 over the chunk, in index order */
		for (size_t i = a; i < b; i++)
			s += (double)g[i] * (double)g[i];
		o->partial[c] = s;
	}
}

double sl_optim_grad_norm(sl_optim *o)
{
	if (o->ps->total < PAR_MIN_ELEMS)
		norm_chunks(o, 0, o->nchunk);
	else
		sl_pool_for(o->pool, o->nchunk, norm_chunks, o);
	double s = 0.0;
	for (size_t c = 0; c < o->nchunk; c++)
		s += o->partial[c];
	return sqrt(s);
}

/* ---- updates ------------------------------------------------------------- */

/* Scalars of one update, shared by every element. */
typedef struct upd_ctx {
	sl_optim *o;
	float gs;            /* gradient scale: 1/accum times the clip coefficient */
	float lr, wd;
	/* SGD */
	float mu, damp1;     /* momentum, 1 - dampening */
	int first, nesterov;
	/* Adam */
	float b1, b2, c1, c2; /* betas and 1 - betas */
	float step_size;     /* lr / (1 - b1^t) */
	float bc2_sqrt;      /* sqrt(1 - b2^t) */
	float eps;
	float decoupled;     /* AdamW: 1 - lr wd */
} upd_ctx;

static void sgd_run(const upd_ctx *c, size_t lo, size_t hi, int decay)
{
	float *p = c->o->ps->data, *buf = c->o->m, *grad = c->o->ps->grad;
	float wd = decay ? c->wd : 0.0f;
	for (size_t i = lo; i < hi; i++) {
		float g = grad[i] * c->gs;
		grad[i] = 0.0f; /* read: zeroed for the next step (UPD_ZEROES) */
		if (wd != 0.0f)
			g += wd * p[i];
		if (buf) {
			/* buf = g on the first update, else mu buf + (1 - dampening) g */
			float b = c->first ? g : c->mu * buf[i] + c->damp1 * g;
			buf[i] = b;
			g = c->nesterov ? g + c->mu * b : b;
		}
		p[i] -= c->lr * g;
	}
}

static void adam_run(const upd_ctx *c, size_t lo, size_t hi, int decay)
{
	float *p = c->o->ps->data, *m = c->o->m, *v = c->o->v, *grad = c->o->ps->grad;
	int adamw = c->o->cfg.kind == SL_OPTIM_ADAMW;
	float l2 = decay && !adamw ? c->wd : 0.0f;
	float shrink = decay && adamw ? c->decoupled : 1.0f;
	for (size_t i = lo; i < hi; i++) {
		float g = grad[i] * c->gs;
		grad[i] = 0.0f; /* read: zeroed for the next step (UPD_ZEROES) */
		if (shrink != 1.0f)
			p[i] *= shrink;       /* AdamW: p -= lr wd p */
		if (l2 != 0.0f)
			g += l2 * p[i];       /* Adam: L2 in the gradient */
		m[i] = c->b1 * m[i] + c->c1 * g;
		v[i] = c->b2 * v[i] + c->c2 * g * g;
		/* p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
		float denom = sqrtf(v[i]) / c->bc2_sqrt + c->eps;
		p[i] -= c->step_size * (m[i] / denom);
	}
}

/* The update's scalars for a group whose lr is s times the optimizer's
 * (AdamW's decoupled decay follows the group's lr, as in PyTorch). */
static void scale_lr(upd_ctx *c, float s)
{
	const sl_optim *o = c->o;
	c->lr *= s;
	if (o->cfg.kind != SL_OPTIM_SGD) {
		double t = (double)(o->step + 1);
		c->step_size = (float)((double)o->lr * s / (1.0 - pow(o->cfg.beta1, t)));
		c->decoupled = (float)(1.0 - (double)o->lr * s * o->cfg.weight_decay);
	}
}

/* Runs the update on elements [lo, hi), parameter by parameter. */
static void upd_range(void *arg, size_t lo, size_t hi)
{
	const upd_ctx *c = arg;
	const sl_optim *o = c->o;
	for (int s = 0; s < o->nseg; s++) {
		size_t a = SL_MAX(lo, o->seg[s].lo), b = SL_MIN(hi, o->seg[s].hi);
		if (a >= b)
			continue;
		upd_ctx cs;
		float sc = o->seg[s].lr_scale, cap = o->seg[s].lr_cap;
		if (cap > 0.0f && o->lr * sc > cap)
			sc = cap / o->lr;
		if (sc != 1.0f) { /* another parameter group: its own lr */
			cs = *c;
			scale_lr(&cs, sc);
			c = &cs;
		}
		if (o->cfg.kind == SL_OPTIM_SGD)
			sgd_run(c, a, b, o->seg[s].decay);
		else
			adam_run(c, a, b, o->seg[s].decay);
		c = arg;
	}
}

int sl_optim_step(sl_optim *o)
{
	const sl_optim_config *cfg = &o->cfg;
	if (++o->micro < cfg->accum)
		return 0;
	o->micro = 0;

	double inv = 1.0 / cfg->accum;
	double norm = sl_optim_grad_norm(o) * inv;   /* norm of the mean gradient */
	o->grad_norm = (float)norm;
	o->clipped = 0;
	if (!isfinite(norm)) {
		sl_params_zero_grad(o->ps);
		o->skipped++;
		sl_errorf("non-finite gradient (norm=%s) at step %lld; update skipped",
			  isnan(norm) ? "nan" : "inf", (long long)o->step);
		return SL_ERR;
	}
	double gs = inv;
	if (cfg->clip > 0.0f) {
		/* torch.nn.utils.clip_grad_norm_: g *= min(1, clip / (norm + 1e-6)) */
		double coef = cfg->clip / (norm + 1e-6);
		if (coef < 1.0) {
			gs *= coef;
			o->clipped = 1;
		}
	}

	upd_ctx c = { .o = o, .gs = (float)gs, .lr = o->lr, .wd = cfg->weight_decay };
	if (cfg->kind == SL_OPTIM_SGD) {
		c.mu = cfg->momentum;
		c.damp1 = (float)(1.0 - (double)cfg->dampening);
		c.first = o->step == 0;
		c.nesterov = cfg->nesterov;
	} else {
		double t = (double)(o->step + 1);
		c.b1 = cfg->beta1;
		c.b2 = cfg->beta2;
		c.c1 = (float)(1.0 - (double)cfg->beta1);
		c.c2 = (float)(1.0 - (double)cfg->beta2);
		c.step_size = (float)((double)o->lr / (1.0 - pow(cfg->beta1, t)));
		c.bc2_sqrt = (float)sqrt(1.0 - pow(cfg->beta2, t));
		c.eps = cfg->eps;
		c.decoupled = (float)(1.0 - (double)o->lr * cfg->weight_decay);
	}
	/* UPD_ZEROES: each update zeroes the gradient elements it reads, in the
	 * same pass (and on the pool's threads), where a memset of the whole
	 * store followed; the padding between parameters is never written and
	 * stays zero */
	if (o->ps->total < PAR_MIN_ELEMS)
		upd_range(&c, 0, o->ps->total);
	else
		sl_pool_for(o->pool, o->ps->total, upd_range, &c);
	o->step++;
	return 1;
}
