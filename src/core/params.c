/* params.c - named parameters in one block. */
#include "seqlab/params.h"

#include <stdlib.h>
#include <string.h>

sl_params *sl_params_new(void)
{
	return sl_xcalloc(1, sizeof(sl_params));
}

void sl_params_free(sl_params *ps)
{
	if (!ps)
		return;
	for (int i = 0; i < ps->n; i++) {
		free((char *)ps->t[i]->name);
		free(ps->t[i]);
	}
	free(ps->t);
	free(ps->offset);
	free(ps->flags);
	free(ps->lr_scale);
	free(ps->lr_cap);
	free(ps->init);
	free(ps->init_a);
	free(ps->init_b);
	free(ps->data);
	free(ps->grad);
	free(ps);
}

int sl_params_index(const sl_params *ps, const char *name)
{
	for (int i = 0; i < ps->n; i++)
		if (strcmp(ps->t[i]->name, name) == 0)
			return i;
	return -1;
}

sl_tensor *sl_params_find(const sl_params *ps, const char *name)
{
	int i = sl_params_index(ps, name);
	return i < 0 ? NULL : ps->t[i];
}

sl_tensor *sl_params_add(sl_params *ps, const char *name, int ndim, const int *shape, unsigned flags)
{
	if (ps->allocated) {
		sl_errorf("parameter %s: the store is already allocated", name);
		return NULL;
	}
	if (sl_params_index(ps, name) >= 0) {
		sl_errorf("parameter %s declared twice", name);
		return NULL;
	}
	if (ndim < 1 || ndim > SL_MAXDIM) {
		sl_errorf("parameter %s: %d dimensions (1 to %d)", name, ndim, SL_MAXDIM);
		return NULL;
	}
	for (int i = 0; i < ndim; i++)
		if (shape[i] < 1) {
			sl_errorf("parameter %s: dimension %d is %d", name, i, shape[i]);
			return NULL;
		}
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 16;
		ps->t = sl_xrealloc(ps->t, (size_t)ps->cap * sizeof *ps->t);
		ps->offset = sl_xrealloc(ps->offset, (size_t)ps->cap * sizeof *ps->offset);
		ps->flags = sl_xrealloc(ps->flags, (size_t)ps->cap * sizeof *ps->flags);
		ps->lr_scale = sl_xrealloc(ps->lr_scale, (size_t)ps->cap * sizeof *ps->lr_scale);
		ps->lr_cap = sl_xrealloc(ps->lr_cap, (size_t)ps->cap * sizeof *ps->lr_cap);
		ps->init = sl_xrealloc(ps->init, (size_t)ps->cap * sizeof *ps->init);
		ps->init_a = sl_xrealloc(ps->init_a, (size_t)ps->cap * sizeof *ps->init_a);
		ps->init_b = sl_xrealloc(ps->init_b, (size_t)ps->cap * sizeof *ps->init_b);
	}
	sl_tensor *t = sl_xcalloc(1, sizeof *t);
	size_t n = sl_shape_set(t, ndim, shape);
	t->name = sl_xstrdup(name);
	t->requires_grad = 1;
	/* each tensor starts on a 16-float (64-byte) boundary */
	ps->offset[ps->n] = ps->total;
	ps->flags[ps->n] = flags;
	ps->lr_scale[ps->n] = 1.0f;
	ps->lr_cap[ps->n] = 0.0f;
	ps->init[ps->n] = SL_INIT_ZERO;
	ps->init_a[ps->n] = ps->init_b[ps->n] = 0;
	ps->t[ps->n++] = t;
	ps->total += (n + 15) & ~(size_t)15;
	return t;
}

void sl_params_alloc(sl_params *ps)
{
	SL_ASSERT(!ps->allocated);
	size_t bytes = (ps->total ? ps->total : 16) * sizeof(float);
	ps->data = sl_xaligned(bytes);
	ps->grad = sl_xaligned(bytes);
	memset(ps->data, 0, bytes);
	memset(ps->grad, 0, bytes);
	for (int i = 0; i < ps->n; i++) {
		ps->t[i]->data = ps->data + ps->offset[i];
		ps->t[i]->grad = ps->grad + ps->offset[i];
	}
	ps->allocated = 1;
}

void sl_params_zero_grad(sl_params *ps)
{
	if (ps->allocated)
		memset(ps->grad, 0, ps->total * sizeof(float));
}

size_t sl_params_count(const sl_params *ps)
{
	size_t n = 0;
	for (int i = 0; i < ps->n; i++)
		n += sl_tensor_numel(ps->t[i]);
	return n;
}

void sl_params_set_init(sl_params *ps, const sl_tensor *t, int kind, float a, float b)
{
	for (int i = 0; i < ps->n; i++)
		if (ps->t[i] == t) {
			ps->init[i] = kind;
			ps->init_a[i] = a;
			ps->init_b[i] = b;
			return;
		}
	SL_ASSERT(!"sl_params_set_init: not a parameter of this store");
}

void sl_params_init(sl_params *ps, const sl_rng *rng)
{
	SL_ASSERT(ps->allocated);
	for (int i = 0; i < ps->n; i++) {
		sl_tensor *t = ps->t[i];
		sl_rng r = sl_rng_split_str(rng, t->name);
		switch (ps->init[i]) {
		case SL_INIT_ZERO:
			sl_init_const(t, 0);
			break;
		case SL_INIT_CONST:
			sl_init_const(t, ps->init_a[i]);
			break;
		case SL_INIT_NORMAL:
			sl_init_normal(t, &r, ps->init_a[i], ps->init_b[i]);
			break;
		case SL_INIT_UNIFORM:
			sl_init_uniform(t, &r, ps->init_a[i], ps->init_b[i]);
			break;
		default:
			break;
		}
	}
}

void sl_init_normal(sl_tensor *t, sl_rng *r, float mean, float std)
{
	size_t n = sl_tensor_numel(t);
	for (size_t i = 0; i < n; i++)
		t->data[i] = mean + std * (float)sl_rng_normal(r);
}

void sl_init_uniform(sl_tensor *t, sl_rng *r, float lo, float hi)
{
	size_t n = sl_tensor_numel(t);
	for (size_t i = 0; i < n; i++)
		t->data[i] = lo + (hi - lo) * sl_rng_float(r);
}

void sl_init_const(sl_tensor *t, float v)
{
	size_t n = sl_tensor_numel(t);
	for (size_t i = 0; i < n; i++)
		t->data[i] = v;
}

void sl_params_set_lr_scale(sl_params *ps, const sl_tensor *t, float scale)
{
	for (int i = 0; i < ps->n; i++)
		if (ps->t[i] == t) {
			ps->lr_scale[i] = scale;
			return;
		}
	SL_ASSERT(!"a parameter of the store");
}

void sl_params_set_lr_cap(sl_params *ps, const sl_tensor *t, float cap)
{
	for (int i = 0; i < ps->n; i++)
		if (ps->t[i] == t) {
			ps->lr_cap[i] = cap;
			return;
		}
	SL_ASSERT(!"a parameter of the store");
}
