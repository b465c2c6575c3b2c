/* tape.c - recording ops and running them backward. */
#include "seqlab/ops.h"

#include <stdlib.h>
#include <string.h>

sl_tape *sl_tape_new(sl_arena *arena, sl_pool *pool)
{
	sl_tape *tp = sl_xcalloc(1, sizeof *tp);
	tp->arena = arena;
	tp->pool = pool;
	tp->grad_enabled = 1;
	return tp;
}

void sl_tape_free(sl_tape *tp)
{
	if (!tp)
		return;
	free(tp->nodes);
	free(tp);
}

void sl_tape_reset(sl_tape *tp)
{
	tp->n = 0;
	tp->dropout_count = 0;
	tp->keep_grads = 0;
	sl_arena_reset(tp->arena);
}

sl_tensor *sl_tape_tensor(sl_tape *tp, int ndim, const int *shape)
{
	sl_tensor *t = sl_arena_calloc(tp->arena, sizeof *t);
	size_t n = sl_shape_set(t, ndim, shape);
	t->data = sl_arena_alloc(tp->arena, n * sizeof(float));
	return t;
}

sl_tensor *sl_tape_like(sl_tape *tp, const sl_tensor *t)
{
	return sl_tape_tensor(tp, t->ndim, t->shape);
}

float *sl_tape_grad(sl_tape *tp, sl_tensor *t)
{
	if (!t->grad)
		t->grad = sl_arena_calloc(tp->arena, sl_tensor_numel(t) * sizeof(float));
	return t->grad;
}

float *sl_tape_grad_fresh(sl_tape *tp, sl_tensor *t, int *fresh)
{
	*fresh = !t->grad;
	if (!t->grad)
		t->grad = sl_arena_alloc(tp->arena, sl_tensor_numel(t) * sizeof(float));
	return t->grad;
}

float *sl_tape_grad_handoff(sl_tape *tp, sl_tensor *x, sl_node *n, int *fresh)
{
	if (!x->grad && !tp->keep_grads) {
		x->grad = n->out->grad;
		return NULL;
	}
	return sl_tape_grad_fresh(tp, x, fresh);
}

sl_tensor *sl_tape_apply(sl_tape *tp, sl_node *n)
{
	int need = 0;
	if (tp->grad_enabled)
		for (int i = 0; i < n->nin; i++)
			if (n->in[i] && n->in[i]->requires_grad)
				need = 1;
	n->out->requires_grad = need;
	n->saved = NULL;
	sl_ops[n->op].forward(tp, n);
	if (need) {
		if (tp->n == tp->cap) {
			tp->cap = tp->cap ? 2 * tp->cap : 256;
			tp->nodes = sl_xrealloc(tp->nodes, (size_t)tp->cap * sizeof *tp->nodes);
		}
		sl_node *rec = &tp->nodes[tp->n++];
		*rec = *n;
		rec->in = sl_arena_alloc(tp->arena, (size_t)(n->nin ? n->nin : 1) * sizeof *rec->in);
		memcpy(rec->in, n->in, (size_t)n->nin * sizeof *rec->in);
	}
	return n->out;
}

static int backward(sl_tape *tp)
{
	for (int i = tp->n - 1; i >= 0; i--) {
		sl_node *n = &tp->nodes[i];
		if (n->out->grad)
			sl_ops[n->op].backward(tp, n);
	}
	return SL_OK;
}

int sl_tape_backward(sl_tape *tp, sl_tensor *loss)
{
	if (!loss->requires_grad) {
		sl_errorf("backward: the loss does not depend on any parameter");
		return SL_ERR;
	}
	float *g = sl_tape_grad(tp, loss);
	size_t n = sl_tensor_numel(loss);
	for (size_t i = 0; i < n; i++)
		g[i] += 1.0f;
	return backward(tp);
}

int sl_tape_backward_from(sl_tape *tp, sl_tensor *out, const float *dout)
{
	if (!out->requires_grad) {
		sl_errorf("backward: the output does not depend on any parameter");
		return SL_ERR;
	}
	float *g = sl_tape_grad(tp, out);
	size_t n = sl_tensor_numel(out);
	for (size_t i = 0; i < n; i++)
		g[i] += dout[i];
	return backward(tp);
}

void sl_tape_zero_grads(sl_tape *tp)
{
	for (int i = 0; i < tp->n; i++) {
		sl_node *n = &tp->nodes[i];
		for (int j = 0; j < n->nin; j++)
			if (n->in[j] && n->in[j]->grad)
				memset(n->in[j]->grad, 0, sl_tensor_numel(n->in[j]) * sizeof(float));
	}
	for (int i = 0; i < tp->n; i++)
		tp->nodes[i].out->grad = NULL; /* its arena buffer is simply left behind */
}
