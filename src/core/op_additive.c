/* op_additive.c - the scores of additive attention (Bahdanau et al. 2015;
 * the PyTorch translation tutorial's BahdanauAttention, the CSC413 PA3
 * handout's MLP attention), fused:
 *
 *   e[b,t,s] = Σ_a v[a] act(q[b,t,a] + k[b,s,a])
 *
 * q (B, Tq, A) the projected queries W q_t, k (B, S, A) the projected keys
 * U k_s + bias, v (A); act = tanh (additive) or ReLU (the handout's MLP).
 * Backward, with u = q + k and g = de · v[a] · act'(u):
 *   dq[b,t,a] += Σ_s g,  dk[b,s,a] += Σ_t g,  dv[a] += Σ_{b,t,s} de · act(u)
 * act' from u again (1 - tanh² or [u > 0]): nothing saved. One thread: a
 * decoder step is B·S·A multiply-adds. */
#include "ops_impl.h"

#include <math.h>
#include <string.h>

static float act(float u, int relu)
{
	return relu ? (u > 0.0f ? u : 0.0f) : tanhf(u);
}

sl_tensor *sl_additive_scores(sl_tape *tp, sl_tensor *q, sl_tensor *k, sl_tensor *v, int relu)
{
	SL_ASSERT(q->ndim == 3 && k->ndim == 3 && v->ndim == 1);
	SL_ASSERT(q->shape[0] == k->shape[0] && q->shape[2] == k->shape[2] && v->shape[0] == q->shape[2]);
	sl_tensor *ins[3] = { q, k, v };
	int s[3] = { q->shape[0], q->shape[1], k->shape[1] };
	sl_node n = sl_node_make(tp, SL_OP_ADDITIVE, ins, 3, 3, s);
	n.i[0] = relu != 0;
	return sl_tape_apply(tp, &n);
}

void sl_op_additive_forward(sl_tape *tp, sl_node *n)
{
	(void)tp;
	const sl_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
	int B = q->shape[0], Tq = q->shape[1], S = k->shape[1], A = q->shape[2], relu = n->i[0];
	for (int b = 0; b < B; b++)
		for (int t = 0; t < Tq; t++) {
			const float *qr = q->data + ((size_t)b * Tq + t) * A;
			float *e = n->out->data + ((size_t)b * Tq + t) * S;
			for (int s = 0; s < S; s++) {
				const float *kr = k->data + ((size_t)b * S + s) * A;
				float acc = 0.0f;
				for (int a = 0; a < A; a++)
					acc += v->data[a] * act(qr[a] + kr[a], relu);
				e[s] = acc;
			}
		}
}

void sl_op_additive_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
	int B = q->shape[0], Tq = q->shape[1], S = k->shape[1], A = q->shape[2], relu = n->i[0];
	const float *de = n->out->grad;
	float *dq = q->requires_grad ? sl_tape_grad(tp, q) : NULL;
	float *dk = k->requires_grad ? sl_tape_grad(tp, k) : NULL;
	float *dv = v->requires_grad ? sl_tape_grad(tp, v) : NULL;
	for (int b = 0; b < B; b++)
		for (int t = 0; t < Tq; t++) {
			const float *qr = q->data + ((size_t)b * Tq + t) * A;
			const float *g = de + ((size_t)b * Tq + t) * S;
			for (int s = 0; s < S; s++) {
				const float *kr = k->data + ((size_t)b * S + s) * A;
				for (int a = 0; a < A; a++) {
					float u = qr[a] + kr[a], y = act(u, relu);
					float d = g[s] * v->data[a] * (relu ? (u > 0.0f ? 1.0f : 0.0f) : 1.0f - y * y);
					if (dq)
						dq[((size_t)b * Tq + t) * A + a] += d;
					if (dk)
						dk[((size_t)b * S + s) * A + a] += d;
					if (dv)
						dv[a] += g[s] * y;
				}
			}
		}
}
