/* sched.c - learning-rate schedules (formulas in sched.h). */
#include "seqlab/sched.h"

#include "seqlab/common.h"

#include <math.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[SL_SCHED_KIND_COUNT] = { "constant", "cosine", "step", "plateau" };

const char *sl_sched_kind_name(int kind)
{
	return kind >= 0 && kind < SL_SCHED_KIND_COUNT ? kind_names[kind] : "?";
}

int sl_sched_kind_from_name(const char *name)
{
	for (int k = 0; k < SL_SCHED_KIND_COUNT; k++)
		if (strcasecmp(name, kind_names[k]) == 0)
			return k;
	return -1;
}

void sl_sched_reset(sl_sched *s)
{
	s->best = INFINITY;
	s->bad = 0;
	s->cooldown_left = 0;
	s->cur = s->lr;
	s->epochs = 0;
}

void sl_sched_init(sl_sched *s, int kind, double lr)
{
	memset(s, 0, sizeof *s);
	s->kind = kind;
	s->lr = lr;
	s->min_lr = kind == SL_SCHED_PLATEAU ? 1e-6 : 0.0;
	s->gamma = 0.1;
	s->factor = 0.5;
	s->patience = 5;
	s->threshold = 1e-3;
	sl_sched_reset(s);
}

int sl_sched_check(const sl_sched *s)
{
	if (s->kind < 0 || s->kind >= SL_SCHED_KIND_COUNT) {
		sl_errorf("unknown schedule kind %d", s->kind);
		return SL_ERR;
	}
	if (!(s->lr >= 0.0) || isinf(s->lr)) {
		sl_errorf("learning rate must be finite and >= 0 (got %g)", s->lr);
		return SL_ERR;
	}
	if (s->warmup < 0) {
		sl_errorf("warmup must be >= 0 (got %lld)", (long long)s->warmup);
		return SL_ERR;
	}
	if (!(s->min_lr >= 0.0) || s->min_lr > s->lr) {
		sl_errorf("min_lr must be in [0, lr] (got %g, lr %g)", s->min_lr, s->lr);
		return SL_ERR;
	}
	switch (s->kind) {
	case SL_SCHED_COSINE:
		if (s->total <= s->warmup) {
			sl_errorf("cosine schedule: total steps (%lld) must exceed warmup (%lld)",
				  (long long)s->total, (long long)s->warmup);
			return SL_ERR;
		}
		break;
	case SL_SCHED_STEP:
		if (s->step_size < 1) {
			sl_errorf("step schedule: step_size must be >= 1 (got %lld)", (long long)s->step_size);
			return SL_ERR;
		}
		if (!(s->gamma > 0.0 && s->gamma <= 1.0)) {
			sl_errorf("step schedule: gamma must be in (0, 1] (got %g)", s->gamma);
			return SL_ERR;
		}
		break;
	case SL_SCHED_PLATEAU:
		if (!(s->factor > 0.0 && s->factor < 1.0)) {
			sl_errorf("plateau schedule: factor must be in (0, 1) (got %g)", s->factor);
			return SL_ERR;
		}
		if (s->patience < 0 || s->cooldown < 0) {
			sl_errorf("plateau schedule: patience and cooldown must be >= 0");
			return SL_ERR;
		}
		if (!(s->threshold >= 0.0 && s->threshold < 1.0)) {
			sl_errorf("plateau schedule: threshold must be in [0, 1) (got %g)", s->threshold);
			return SL_ERR;
		}
		break;
	}
	return SL_OK;
}

static double base_lr(const sl_sched *s, int64_t step)
{
	switch (s->kind) {
	case SL_SCHED_COSINE: {
		if (step < s->warmup)
			return s->lr;
		double span = (double)(s->total - s->warmup);
		double p = span > 0.0 ? (double)(step - s->warmup) / span : 1.0;
		if (p > 1.0)
			p = 1.0;
		return s->min_lr + (s->lr - s->min_lr) * 0.5 * (1.0 + cos(M_PI * p));
	}
	case SL_SCHED_STEP:
		return s->lr * pow(s->gamma, (double)(step / (s->step_size > 0 ? s->step_size : 1)));
	case SL_SCHED_PLATEAU:
		return s->cur;
	default:
		return s->lr;
	}
}

double sl_sched_lr(const sl_sched *s, int64_t step)
{
	if (step < 0)
		step = 0;
	double lr = base_lr(s, step);
	if (step < s->warmup)
		lr *= (double)(step + 1) / (double)s->warmup;
	return lr;
}

int sl_sched_observe(sl_sched *s, double metric)
{
	if (s->kind != SL_SCHED_PLATEAU)
		return 0;
	s->epochs++;
	/* mode min, threshold_mode rel; NaN never improves */
	if (metric < s->best * (1.0 - s->threshold)) {
		s->best = metric;
		s->bad = 0;
	} else {
		s->bad++;
	}
	if (s->cooldown_left > 0) {
		s->cooldown_left--;
		s->bad = 0;
	}
	if (s->bad > s->patience) {
		double lr = fmax(s->cur * s->factor, s->min_lr);
		int cut = s->cur - lr > 1e-8;
		if (cut)
			s->cur = lr;
		s->cooldown_left = s->cooldown;
		s->bad = 0;
		return cut;
	}
	return 0;
}
