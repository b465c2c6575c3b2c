/* test_gradflow.c - the gradient-flow view's numbers (gradflow RUN): the
 * norms |∂loss/∂x_t| a probed forward pass gives (a language model's, the
 * encoder-decoder's on both sides) equal central differences of the loss;
 * the recurrent Jacobian |∂s_p/∂s_t| of an Elman block equals the product
 * of its step Jacobians diag(1 - h_s^2) W_h computed here, and each cell's
 * (elman, gru, lstm) central differences of its step mode; the diagonal
 * recurrences' is 1 at the loss and shrinks with distance; and the
 * property the view exists to show: an untrained Elman RNN's gradient
 * vanishes with distance while an LSTM's with a high forget bias does not. */
#include "seqlab/mixer.h"
#include "seqlab/model.h"
#include "seqlab/params.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define V 40

static sl_model *model_of(const char *kind, const char *hidden, int layers, uint64_t seed)
{
	char l[8];
	snprintf(l, sizeof l, "%d", layers);
	const char *keys[] = { "hidden", "layers" };
	const char *vals[] = { hidden, l };
	sl_model_shape shape = { .vocab = V, .maxlen = 64 };
	sl_rng r;
	sl_rng_seed(&r, seed);
	return sl_model_new(sl_model_kind_find(kind), keys, vals, 2, &shape, &r);
}

/* The loss at position p (target tgt) of tokens x (T), with grad off. */
static double loss_at(sl_model *m, sl_tape *tp, const int32_t *x, int T, int p, int tgt)
{
	sl_tape_reset(tp);
	tp->grad_enabled = 0;
	int32_t y[64];
	for (int t = 0; t < T; t++)
		y[t] = t == p ? tgt : -1;
	sl_tensor *out = sl_cross_entropy(tp, m->kind->lm(m->impl, tp, x, 1, T), y, -1, NULL);
	return out->data[0];
}

/* The probed pass: stream[0]'s gradient norms per position into g (T);
 * with jac, block 0's Jacobian norms into jac (p + 1). */
static int probe(sl_model *m, sl_tape *tp, const int32_t *x, int T, int p, int tgt, float *g, float *jac)
{
	sl_tape_reset(tp);
	tp->grad_enabled = 1;
	sl_tensor *stream[8];
	sl_tensor *logits = m->kind->lm_probe(m->impl, tp, x, 1, T, stream);
	int32_t *y = sl_arena_alloc(tp->arena, (size_t)T * sizeof *y);
	for (int t = 0; t < T; t++)
		y[t] = t == p ? tgt : -1;
	if (sl_tape_backward(tp, sl_cross_entropy(tp, logits, y, -1, NULL)) != SL_OK || !stream[0]->grad)
		return SL_ERR;
	int H = sl_tensor_dim(stream[0], -1);
	for (int t = 0; t < T; t++) {
		double q = 0;
		for (int j = 0; j < H; j++)
			q += (double)stream[0]->grad[t * H + j] * stream[0]->grad[t * H + j];
		g[t] = (float)sqrt(q);
	}
	if (jac && m->kind->layer_jacobian(m->impl, 0, tp, p, jac) != SL_OK)
		return SL_ERR;
	return SL_OK;
}

/* Distinct tokens, so ∂loss/∂emb[x_t] is ∂loss/∂x_t: central differences
 * on the embedding rows give the norms to compare. */
static void test_fd(const char *kind, int layers)
{
	sl_model *m = model_of(kind, "8", layers, 11);
	if (!TAP_OK(m != NULL, "%s: builds", kind))
		return;
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	enum { T = 7 };
	int32_t x[T] = { 3, 17, 5, 29, 11, 23, 2 };
	int p = T - 1, tgt = 9;
	float g[T];
	int ok = probe(m, tp, x, T, p, tgt, g, NULL) == SL_OK;
	sl_tensor *emb = sl_params_find(m->ps, "emb");
	int H = emb->shape[1];
	double worst = 0, gmax = 0;
	for (int t = 0; t < T; t++)
		gmax = g[t] > gmax ? g[t] : gmax;
	/* float32 central differences resolve about 1e-3 of the largest norm */
	for (int t = 0; t < T && ok; t++) {
		double q = 0;
		for (int j = 0; j < H; j++) {
			float *w = emb->data + (size_t)x[t] * H + j, keep = *w;
			const float eps = 3e-2f;
			*w = keep + eps;
			double up = loss_at(m, tp, x, T, p, tgt);
			*w = keep - eps;
			double dn = loss_at(m, tp, x, T, p, tgt);
			*w = keep;
			double d = (up - dn) / (2.0 * eps);
			q += d * d;
		}
		double num = sqrt(q), err = fabs(num - g[t]) / (1e-3 * gmax + num);
		if (err > worst)
			worst = err;
		if (err > 2e-2)
			tap_diag("%s t=%d: analytic %.6g numeric %.6g", kind, t, g[t], num);
	}
	TAP_OK(ok && worst <= 2e-2, "%s (%d layers): |d loss / d x_t| equals central differences (worst relative %.2g)",
	       kind, layers, worst);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_model_free(m);
}

/* Elman: s_t = tanh(a_t + W_h s_{t-1}), so ∂s_p/∂s_t = Π_{s=p..t+1}
 * diag(1 - s_s^2) W_h; its Frobenius norm over √H against the view's. */
static void test_elman_jacobian(void)
{
	sl_model *m = model_of("elman", "6", 1, 5);
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	enum { T = 9, H = 6 };
	int32_t x[T] = { 1, 4, 1, 5, 9, 2, 6, 5, 3 };
	int p = T - 2;
	float g[T], jac[T];
	int ok = probe(m, tp, x, T, p, 7, g, jac) == SL_OK;
	/* the states of this pass, from the block's own view "h" (|s_t|: the
	 * square is all the derivative needs) */
	sl_mixer_grid grid;
	ok = ok && m->kind->layer_view(m->impl, 0, 0, &grid, 1) == 1;
	const float *W = sl_params_find(m->ps, "l0.wh.w")->data; /* (H, H): W[i][k] = ∂(W s)_i / ∂s_k */
	double J[H][H], nJ[H][H], worst = 0;
	memset(J, 0, sizeof J);
	for (int i = 0; i < H; i++)
		J[i][i] = 1;
	for (int t = p; t >= 0 && ok; t--) { /* J = ∂s_p/∂s_t */
		double f = 0;
		for (int i = 0; i < H; i++)
			for (int k = 0; k < H; k++)
				f += J[i][k] * J[i][k];
		double want = sqrt(f / H), err = fabs(want - jac[t]) / (1e-30 + want);
		if (err > worst)
			worst = err;
		if (t == 0)
			break;
		/* J <- J diag(1 - s_t^2) W */
		for (int i = 0; i < H; i++)
			for (int k = 0; k < H; k++) {
				double v = 0;
				for (int j = 0; j < H; j++) {
					double s = grid.v[t * H + j];
					v += J[i][j] * (1 - s * s) * W[j * H + k];
				}
				nJ[i][k] = v;
			}
		memcpy(J, nJ, sizeof J);
	}
	if (ok)
		free(grid.v);
	TAP_OK(ok && worst < 1e-3, "elman: |d s_p / d s_t| equals the product of the step Jacobians (worst relative %.2g)",
	       worst);
	TAP_OK(ok && fabsf(jac[p] - 1) < 1e-6f, "elman: the Jacobian at t = p is 1 (%g)", jac[p]);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_model_free(m);
}

/* T = 40 positions; the loss at the last: the ratio of the gradient at the
 * first position to the one at the loss, and the state's Jacobian there. */
static void decay(sl_model *m, double *ratio, double *jac0)
{
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	enum { T = 40 };
	int32_t x[T];
	sl_rng r;
	sl_rng_seed(&r, 3);
	for (int t = 0; t < T; t++)
		x[t] = (int32_t)sl_rng_below(&r, V);
	float g[T], jac[T];
	*ratio = *jac0 = -1;
	if (probe(m, tp, x, T, T - 1, 1, g, jac) == SL_OK) {
		*ratio = g[0] / g[T - 1];
		*jac0 = jac[0];
	}
	sl_tape_free(tp);
	sl_arena_free(a);
}

static void test_vanishing(void)
{
	sl_model *e = model_of("elman", "16", 1, 7), *l = model_of("lstm", "16", 1, 7);
	/* the LSTM's forget gate biased to 3 (σ(3) = 0.95): its cell keeps */
	sl_tensor *b = sl_params_find(l->ps, "l0.wx.b");
	for (int i = 16; i < 32; i++)
		b->data[i] = 3.0f;
	double er, ej, lr, lj;
	decay(e, &er, &ej);
	decay(l, &lr, &lj);
	tap_diag("40 positions back: elman grad ratio %.3g jacobian %.3g; lstm (forget bias 3) %.3g, %.3g", er, ej, lr, lj);
	TAP_OK(er >= 0 && er < 1e-6 && ej >= 0 && ej < 1e-6,
	       "an untrained Elman RNN's gradient vanishes: 40 positions back %.2g of the last's (state Jacobian %.2g)", er, ej);
	TAP_OK(lr > 1e3 * er && lj > 1e3 * ej && lj > 1e-3,
	       "an LSTM with a high forget bias keeps it: %.2g of the last's (state Jacobian %.2g)", lr, lj);
	sl_model_free(e);
	sl_model_free(l);
}

/* The diagonal recurrences' Jacobian from their decays: 1 at the loss
 * position, within (0, 1] and never growing with distance (every factor of
 * an untrained, stable block is in (0, 1)). */
static void test_diag(const char *kind)
{
	sl_model *m = model_of(kind, "8", 1, 13);
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	enum { T = 12 };
	int32_t x[T] = { 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9 };
	float g[T], jac[T];
	int ok = m && probe(m, tp, x, T, T - 1, 7, g, jac) == SL_OK && jac[T - 1] == 1.0f;
	for (int t = 0; t < T - 1 && ok; t++)
		ok = jac[t] > 0 && jac[t] <= jac[t + 1];
	TAP_OK(ok, "%s: the state's Jacobian is 1 at the loss and shrinks with distance (%.3g at %d back)", kind,
	       ok ? jac[0] : -1.0, T - 1);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_model_free(m);
}

/* The encoder-decoder: |∂loss/∂x_s| of the embedded source and |∂loss/∂y_t|
 * of the embedded decoder input against central differences on the rows of
 * src_emb and tgt_emb (distinct tokens on each side). */
static double tf_loss(sl_model *m, sl_tape *tp, const int32_t *src, int S, const int32_t *dec, const int32_t *y, int T)
{
	sl_tape_reset(tp);
	tp->grad_enabled = 0;
	return sl_cross_entropy(tp, m->kind->seq2seq(m->impl, tp, src, dec, 1, S, T), y, -1, NULL)->data[0];
}

static void test_fd_transformer(void)
{
	const char *keys[] = { "hidden", "heads", "enc", "dec" };
	const char *vals[] = { "8", "2", "1", "1" };
	sl_model_shape shape = { .vocab = V, .maxlen = 64 };
	sl_rng r;
	sl_rng_seed(&r, 21);
	sl_model *m = sl_model_new(sl_model_kind_find("transformer"), keys, vals, 4, &shape, &r);
	if (!TAP_OK(m != NULL && m->kind->s2s_probe, "transformer: builds, with a probe"))
		return;
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	enum { S = 5, T = 4 };
	int32_t src[S] = { 3, 8, 1, 30, 12 }, dec[T] = { 7, 2, 19, 33 }, y[T] = { -1, -1, -1, 5 };
	sl_tape_reset(tp);
	tp->grad_enabled = 1;
	sl_tensor *sx = NULL, *dx = NULL;
	sl_tensor *logits = m->kind->s2s_probe(m->impl, tp, src, dec, 1, S, T, &sx, &dx);
	int32_t *ya = sl_arena_alloc(tp->arena, sizeof y);
	memcpy(ya, y, sizeof y);
	int ok = sl_tape_backward(tp, sl_cross_entropy(tp, logits, ya, -1, NULL)) == SL_OK && sx->grad && dx->grad;
	int H = 8;
	float g[S + T];
	for (int i = 0; ok && i < S + T; i++) {
		const float *gr = i < S ? sx->grad + (size_t)i * H : dx->grad + (size_t)(i - S) * H;
		double q = 0;
		for (int j = 0; j < H; j++)
			q += (double)gr[j] * gr[j];
		g[i] = (float)sqrt(q);
	}
	double worst = 0, gmax = 0;
	for (int i = 0; ok && i < S + T; i++)
		gmax = g[i] > gmax ? g[i] : gmax;
	sl_tensor *se = sl_params_find(m->ps, "src_emb"), *te = sl_params_find(m->ps, "tgt_emb");
	for (int i = 0; ok && i < S + T; i++) {
		float *row = i < S ? se->data + (size_t)src[i] * H : te->data + (size_t)dec[i - S] * H;
		double q = 0;
		for (int j = 0; j < H; j++) {
			float keep = row[j];
			const float eps = 3e-2f;
			row[j] = keep + eps;
			double up = tf_loss(m, tp, src, S, dec, y, T);
			row[j] = keep - eps;
			double dn = tf_loss(m, tp, src, S, dec, y, T);
			row[j] = keep;
			double d = (up - dn) / (2.0 * eps);
			q += d * d;
		}
		double num = sqrt(q), err = fabs(num - g[i]) / (1e-3 * gmax + num);
		worst = err > worst ? err : worst;
	}
	TAP_OK(ok && worst <= 2e-2,
	       "transformer: |d loss / d x_s| (source) and |d loss / d y_t| (decoder) equal central differences "
	       "(worst relative %.2g)", worst);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_model_free(m);
}

/* The cells' Jacobian by finite differences in step mode: the state after
 * step t perturbed unit by unit, stepped on to p. The step state's layout
 * is rnn.c's (a test-local mirror: the batch, the width, h and c). */
typedef struct rnn_state_mirror {
	int B, H;
	float *h, *c;
} rnn_state_mirror;

static void test_cell_jacobian(const sl_mixer_kind *k)
{
	enum { H = 6, T = 7 };
	sl_mixer_ctx ctx = { .hidden = H };
	char cfg[SL_MIXER_CFG_MAX] = { 0 };
	void *ly = calloc(1, k->layer_size);
	sl_params *ps = sl_params_new();
	k->add(ly, ps, "l0", cfg, &ctx);
	sl_params_alloc(ps);
	sl_rng r;
	sl_rng_seed(&r, 31);
	sl_params_init(ps, &r);
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	float u[T * H];
	for (int i = 0; i < T * H; i++)
		u[i] = 2 * sl_rng_float(&r) - 1;
	/* the full forward pass with gradients, and its Jacobian */
	int s3[3] = { 1, T, H }, p = T - 1;
	sl_tensor *x = sl_tape_tensor(tp, 3, s3);
	memcpy(x->data, u, sizeof u);
	k->forward(ly, cfg, &ctx, tp, x);
	float jac[T];
	int ok = k->jacobian(ly, cfg, &ctx, tp, p, jac) == SL_OK;
	/* central differences of the state at p in step mode */
	double worst = 0;
	for (int t = 0; t < p && ok; t++) {
		double q = 0;
		for (int j = 0; j < H; j++) {
			double hp[2][H];
			for (int sgn = 0; sgn < 2; sgn++) {
				rnn_state_mirror *st = k->state_new(ly, cfg, &ctx, 1);
				int s1[3] = { 1, 1, H };
				for (int step = 0; step <= p; step++) {
					sl_tape_reset(tp);
					tp->grad_enabled = 0;
					sl_tensor *xi = sl_tape_tensor(tp, 3, s1);
					memcpy(xi->data, u + step * H, H * sizeof(float));
					k->step(ly, cfg, &ctx, tp, st, xi);
					if (step == t)
						st->h[j] += sgn ? -1e-2f : 1e-2f;
				}
				for (int i = 0; i < H; i++)
					hp[sgn][i] = st->h[i];
				k->state_free(st);
			}
			for (int i = 0; i < H; i++) {
				double d = (hp[0][i] - hp[1][i]) / 2e-2;
				q += d * d;
			}
		}
		double num = sqrt(q / H), err = fabs(num - jac[t]) / (1e-3 + num);
		worst = err > worst ? err : worst;
		if (err > 2e-2)
			tap_diag("%s t=%d: jacobian %.6g, central differences %.6g", k->name, t, jac[t], num);
	}
	TAP_OK(ok && worst < 2e-2, "%s: |d s_p / d s_t| equals central differences in step mode (worst relative %.2g)",
	       k->name, worst);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_params_free(ps);
	free(ly);
}

int main(void)
{
	test_fd("elman", 1);
	test_fd("gru", 1);
	test_fd("lstm", 2);
	test_fd("mamba", 1);
	test_fd("gpt", 2);
	test_fd("lru", 1);
	test_fd_transformer();
	test_elman_jacobian();
	test_cell_jacobian(&sl_mixer_elman);
	test_cell_jacobian(&sl_mixer_gru);
	test_cell_jacobian(&sl_mixer_lstm);
	test_vanishing();
	test_diag("mamba");
	test_diag("lru");
	test_diag("hawk");
	test_diag("s4d");
	return tap_done();
}
