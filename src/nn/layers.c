/* layers.c - linear, norms, embedding, multi-head attention, MLP. */
#include "seqlab/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "base.suffix" into buf; names are short, a longer one is a bug */
static const char *join(char *buf, size_t n, const char *base, const char *suffix)
{
	size_t a = strlen(base), b = strlen(suffix);
	SL_ASSERT(a + b + 2 <= n);
	memcpy(buf, base, a);
	buf[a] = '.';
	memcpy(buf + a + 1, suffix, b + 1);
	return buf;
}
#define NAME(buf, base, suffix) join(buf, sizeof buf, base, suffix)

static sl_tensor *add(sl_params *ps, const char *name, int ndim, const int *shape, unsigned flags)
{
	sl_tensor *t = sl_params_add(ps, name, ndim, shape, flags);
	SL_ASSERT(t != NULL); /* a duplicate name is a bug in the model */
	return t;
}

void sl_nn_linear_add(sl_nn_linear *l, sl_params *ps, const char *name, int in, int out, int bias)
{
	char buf[128];
	int ws[2] = { out, in };
	float bound = 1.0f / sqrtf((float)in);
	l->w = add(ps, NAME(buf, name, "w"), 2, ws, 0);
	sl_params_set_init(ps, l->w, SL_INIT_UNIFORM, -bound, bound);
	l->b = NULL;
	if (bias) {
		l->b = add(ps, NAME(buf, name, "b"), 1, &out, SL_PARAM_NO_DECAY);
		sl_params_set_init(ps, l->b, SL_INIT_UNIFORM, -bound, bound);
	}
}

sl_tensor *sl_nn_linear_forward(const sl_nn_linear *l, sl_tape *tp, sl_tensor *x)
{
	return sl_linear(tp, x, l->w, l->b);
}

sl_tensor *sl_nn_linear_residual(const sl_nn_linear *l, sl_tape *tp, sl_tensor *x, sl_tensor *res, float p)
{
	if (sl_dropout_applies(tp, p))
		return sl_add(tp, res, sl_dropout(tp, sl_linear(tp, x, l->w, l->b), p));
	return sl_linear_residual(tp, x, l->w, l->b, res);
}

void sl_nn_norm_add(sl_nn_norm *n, sl_params *ps, const char *name, int dim, int rms)
{
	char buf[128];
	n->rms = rms;
	n->eps = rms ? 1e-6f : 1e-5f;
	n->g = add(ps, NAME(buf, name, "g"), 1, &dim, SL_PARAM_NO_DECAY);
	sl_params_set_init(ps, n->g, SL_INIT_CONST, 1, 0);
	n->b = rms ? NULL : add(ps, NAME(buf, name, "b"), 1, &dim, SL_PARAM_NO_DECAY);
}

sl_tensor *sl_nn_norm_forward(const sl_nn_norm *n, sl_tape *tp, sl_tensor *x)
{
	return n->rms ? sl_rmsnorm(tp, x, n->g, n->eps) : sl_layernorm(tp, x, n->g, n->b, n->eps);
}

void sl_nn_embedding_add(sl_nn_embedding *e, sl_params *ps, const char *name, int vocab, int dim)
{
	int s[2] = { vocab, dim };
	e->w = add(ps, name, 2, s, 0);
	sl_params_set_init(ps, e->w, SL_INIT_NORMAL, 0, 1);
}

void sl_nn_embedding_fixed(sl_nn_embedding *e, const float *table, int vocab, int d, int dim)
{
	SL_ASSERT(vocab >= 1 && d >= 1 && d <= dim);
	sl_tensor *t = sl_xcalloc(1, sizeof *t);
	int s[2] = { vocab, dim };
	sl_shape_set(t, 2, s);
	t->data = sl_xcalloc((size_t)vocab * dim, sizeof(float));
	for (int v = 0; v < vocab; v++)
		memcpy(t->data + (size_t)v * dim, table + (size_t)v * d, (size_t)d * sizeof(float));
	e->w = t;
}

void sl_nn_embedding_fixed_free(sl_nn_embedding *e)
{
	if (e->w) {
		free(e->w->data);
		free(e->w);
		e->w = NULL;
	}
}

sl_tensor *sl_nn_embedding_forward(const sl_nn_embedding *e, sl_tape *tp, const int32_t *ids, int B, int T)
{
	int s[2] = { B, T };
	return sl_embedding(tp, e->w, ids, 2, s);
}

void sl_nn_mha_add(sl_nn_mha *m, sl_params *ps, const char *name, int hidden, int heads)
{
	char buf[128];
	SL_ASSERT(heads >= 1 && hidden % heads == 0);
	m->heads = heads;
	sl_nn_linear_add(&m->q, ps, NAME(buf, name, "q"), hidden, hidden, 0);
	sl_nn_linear_add(&m->k, ps, NAME(buf, name, "k"), hidden, hidden, 0);
	sl_nn_linear_add(&m->v, ps, NAME(buf, name, "v"), hidden, hidden, 0);
	sl_nn_linear_add(&m->o, ps, NAME(buf, name, "o"), hidden, hidden, 0);
}

/* the heads' output, before the output projection */
static sl_tensor *mha_heads(const sl_nn_mha *m, sl_tape *tp, sl_tensor *xq, sl_tensor *xkv, int causal, int window,
			    float **probs)
{
	int hidden = sl_tensor_dim(xq, -1);
	float scale = 1.0f / sqrtf((float)(hidden / m->heads));
	sl_tensor *q = sl_nn_linear_forward(&m->q, tp, xq);
	sl_tensor *k = sl_nn_linear_forward(&m->k, tp, xkv);
	sl_tensor *v = sl_nn_linear_forward(&m->v, tp, xkv);
	return m->linear ? sl_linear_attention(tp, q, k, v, m->heads, causal, probs)
			 : sl_attention(tp, q, k, v, m->heads, causal, window, scale, probs);
}

sl_tensor *sl_nn_mha_forward(const sl_nn_mha *m, sl_tape *tp, sl_tensor *xq, sl_tensor *xkv, int causal, int window,
		     float **probs)
{
	return sl_nn_linear_forward(&m->o, tp, mha_heads(m, tp, xq, xkv, causal, window, probs));
}

sl_tensor *sl_nn_mha_residual(const sl_nn_mha *m, sl_tape *tp, sl_tensor *xq, sl_tensor *xkv, int causal, int window,
			      float **probs, sl_tensor *res, float p)
{
	return sl_nn_linear_residual(&m->o, tp, mha_heads(m, tp, xq, xkv, causal, window, probs), res, p);
}

void sl_nn_mlp_add(sl_nn_mlp *m, sl_params *ps, const char *name, int hidden, int inner)
{
	char buf[128];
	sl_nn_linear_add(&m->up, ps, NAME(buf, name, "up"), hidden, inner, 1);
	sl_nn_linear_add(&m->down, ps, NAME(buf, name, "down"), inner, hidden, 1);
}

sl_tensor *sl_nn_mlp_forward(const sl_nn_mlp *m, sl_tape *tp, sl_tensor *x)
{
	return sl_mlp(tp, x, m->up.w, m->up.b, m->down.w, m->down.b, NULL);
}

sl_tensor *sl_nn_mlp_residual(const sl_nn_mlp *m, sl_tape *tp, sl_tensor *x, sl_tensor *res, float p)
{
	if (sl_dropout_applies(tp, p))
		return sl_add(tp, res, sl_dropout(tp, sl_nn_mlp_forward(m, tp, x), p));
	return sl_mlp(tp, x, m->up.w, m->up.b, m->down.w, m->down.b, res);
}

void sl_nn_sinusoid(float *pe, int maxlen, int d)
{
	for (int p = 0; p < maxlen; p++)
		for (int i = 0; i < d; i += 2) {
			double angle = p / pow(10000.0, (double)i / d);
			pe[(size_t)p * d + i] = (float)sin(angle);
			if (i + 1 < d)
				pe[(size_t)p * d + i + 1] = (float)cos(angle);
		}
}
