/* op_rope.c - rotary position embedding (Su et al., RoFormer).
 *
 * x (B, T, H*Dh), heads interleaved as (H, Dh) in the last dimension (the
 * layout a linear projection produces). Within each head the dims pair up as
 * (2i, 2i+1), i < Dh/2, and the pair at position p = pos0 + t turns by the
 * angle p * theta_i, theta_i = base^(-2i/Dh):
 *
 *   y[2i]   = x[2i] cos(p theta_i) - x[2i+1] sin(p theta_i)
 *   y[2i+1] = x[2i] sin(p theta_i) + x[2i+1] cos(p theta_i)
 *
 * A rotation, so <R(p) q, R(s) k> = <q, R(s - p) k>: attention scores between
 * rotated queries and keys depend on the positions only through s - p. The
 * backward pass turns the gradient back: dx = R(-p theta) dy.
 *
 * The table of cos/sin (T, Dh/2) is computed in double (angles reach
 * p * 1 = hundreds of radians) and rounded once; rows (b, t) split over the
 * pool's threads, each row written by one thread. */
#include "ops_impl.h"

#include <math.h>

typedef struct rope_ctx {
	int T, D, Dh, half;
	const float *cs;   /* (T, half, 2): cos, sin */
	const float *x;    /* forward input, or the output gradient */
	float *y;          /* forward output, or the input gradient (accumulated) */
	int sign;          /* +1 forward, -1 backward */
} rope_ctx;

static void rope_rows(void *arg, size_t lo, size_t hi)
{
	rope_ctx *c = arg;
	for (size_t r = lo; r < hi; r++) {
		int t = (int)(r % (size_t)c->T);
		const float *cs = c->cs + (size_t)t * c->half * 2;
		const float *x = c->x + r * (size_t)c->D;
		float *y = c->y + r * (size_t)c->D;
		for (int h = 0; h < c->D; h += c->Dh)
			for (int i = 0; i < c->half; i++) {
				float co = cs[2 * i], si = c->sign * cs[2 * i + 1];
				float a = x[h + 2 * i], b = x[h + 2 * i + 1];
				/* fused explicitly, so that every build rounds alike: GCC's
				 * vectoriser contracts these into vfmaddsub (a*co - b*si and
				 * b*co + a*si, each with one rounding) while its scalar code
				 * (a loop's tail, -O0, a sanitizer build) did not */
				float y0 = fmaf(a, co, -(b * si)), y1 = fmaf(b, co, a * si);
				if (c->sign > 0) {
					y[h + 2 * i] = y0;
					y[h + 2 * i + 1] = y1;
				} else {
					y[h + 2 * i] += y0;
					y[h + 2 * i + 1] += y1;
				}
			}
	}
}

static void rope_run(sl_tape *tp, size_t rows, size_t work, rope_ctx *c)
{
	if (work < SL_PAR_MIN_WORK)
		rope_rows(c, 0, rows);
	else
		sl_pool_for(tp->pool, rows, rope_rows, c);
}

sl_tensor *sl_rope(sl_tape *tp, sl_tensor *x, int heads, int pos0, float base)
{
	SL_ASSERT(x->ndim == 3 && heads >= 1 && pos0 >= 0 && base > 1.0f);
	int D = x->shape[2];
	SL_ASSERT(D % heads == 0 && (D / heads) % 2 == 0);
	sl_tensor *ins[1] = { x };
	sl_node n = sl_node_make(tp, SL_OP_ROPE, ins, 1, 3, x->shape);
	n.i[0] = heads;
	n.i[1] = pos0;
	n.f[0] = base;
	return sl_tape_apply(tp, &n);
}

/* cos/sin of p * theta_i for p = pos0 + t, t < T, i < half: (T, half, 2) */
static float *rope_table(sl_tape *tp, int T, int half, int pos0, double base)
{
	float *cs = sl_arena_alloc(tp->arena, (size_t)T * half * 2 * sizeof(float));
	for (int i = 0; i < half; i++) {
		double theta = pow(base, -2.0 * i / (2.0 * half));
		for (int t = 0; t < T; t++) {
			double a = (double)(pos0 + t) * theta;
			cs[((size_t)t * half + i) * 2] = (float)cos(a);
			cs[((size_t)t * half + i) * 2 + 1] = (float)sin(a);
		}
	}
	return cs;
}

void sl_op_rope_forward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	int T = x->shape[1], D = x->shape[2], Dh = D / n->i[0];
	float *cs = rope_table(tp, T, Dh / 2, n->i[1], n->f[0]);
	n->saved = cs;
	rope_ctx c = { .T = T, .D = D, .Dh = Dh, .half = Dh / 2, .cs = cs, .x = x->data, .y = n->out->data,
		       .sign = 1 };
	size_t rows = sl_tensor_rows(x);
	rope_run(tp, rows, rows * (size_t)D * 2, &c);
}

void sl_op_rope_backward(sl_tape *tp, sl_node *n)
{
	sl_tensor *x = n->in[0];
	if (!x->requires_grad)
		return;
	int T = x->shape[1], D = x->shape[2], Dh = D / n->i[0];
	rope_ctx c = { .T = T, .D = D, .Dh = Dh, .half = Dh / 2, .cs = n->saved, .x = n->out->grad,
		       .y = sl_tape_grad(tp, x), .sign = -1 };
	size_t rows = sl_tensor_rows(x);
	rope_run(tp, rows, rows * (size_t)D * 2, &c);
}
