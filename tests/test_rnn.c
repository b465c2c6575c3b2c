/* test_rnn.c - the rnn encoder-decoder: the additive-attention op's
 * gradients (tanh and ReLU), its bits on any thread count and its values
 * against the formula in double, gradients through the whole model for each
 * cell and attention, greedy decoding equal to the argmax path of the
 * teacher-forced forward pass, beam 1 equal to greedy (and a wider beam
 * scoring no worse), alignment rows that sum to 1, refused options. */
#include "seqlab/model.h"
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>

enum { SOS = 27, EOS = 28, VOC = 29 };

typedef struct relu_ctx {
	int relu;
} relu_ctx;

static sl_tensor *build_additive(sl_tape *tp, sl_tensor **in, void *ctx)
{
	return sl_additive_attention(tp, in[0], in[1], in[2], in[3], ((relu_ctx *)ctx)->relu, NULL);
}

/* The op in double from its inputs q (B, Tq, A), k (B, S, A), x (B, S, D),
 * v (A) and the context's gradient g (B, Tq, D): ref gets the context, α
 * (B, Tq, S), then dq, dk, dx, dv, in that order. */
static void additive_ref(sl_tensor **in, int relu, const float *g, double *ref)
{
	int B = in[0]->shape[0], Tq = in[0]->shape[1], A = in[0]->shape[2], S = in[1]->shape[1], D = in[2]->shape[2];
	const float *q = in[0]->data, *k = in[1]->data, *x = in[2]->data, *v = in[3]->data;
	double *c = ref, *al = c + B * Tq * D, *dq = al + B * Tq * S, *dk = dq + B * Tq * A, *dx = dk + B * S * A;
	double *dv = dx + B * S * D, *y = malloc((size_t)S * A * sizeof *y), *dal = malloc((size_t)S * sizeof *dal);
	memset(ref, 0, (size_t)(B * Tq * (D + S + A) + B * S * (A + D) + A) * sizeof *ref);
	for (int b = 0; b < B; b++)
		for (int t = 0; t < Tq; t++) {
			int bt = b * Tq + t;
			double mx = -INFINITY, sum = 0, dot = 0;
			for (int s = 0; s < S; s++) {
				double e = 0;
				for (int a = 0; a < A; a++) {
					double u = (double)q[bt * A + a] + k[(b * S + s) * A + a];
					y[s * A + a] = relu ? fmax(u, 0) : tanh(u);
					e += v[a] * y[s * A + a];
				}
				al[bt * S + s] = e;
				mx = fmax(mx, e);
			}
			for (int s = 0; s < S; s++)
				sum += al[bt * S + s] = exp(al[bt * S + s] - mx);
			for (int s = 0; s < S; s++) {
				al[bt * S + s] /= sum;
				dal[s] = 0;
				for (int d = 0; d < D; d++) {
					c[bt * D + d] += al[bt * S + s] * x[(b * S + s) * D + d];
					dal[s] += (double)g[bt * D + d] * x[(b * S + s) * D + d];
					dx[(b * S + s) * D + d] += al[bt * S + s] * g[bt * D + d];
				}
				dot += al[bt * S + s] * dal[s];
			}
			for (int s = 0; s < S; s++) {
				double de = al[bt * S + s] * (dal[s] - dot);
				for (int a = 0; a < A; a++) {
					double ya = y[s * A + a], d = de * v[a] * (relu ? (ya > 0) : 1 - ya * ya);
					dq[bt * A + a] += d;
					dk[(b * S + s) * A + a] += d;
					dv[a] += de * ya;
				}
			}
		}
	free(y);
	free(dal);
}

/* The context, α and every gradient of the fused op on a pool of `threads`
 * (0: none), from the context's gradient g: a heap buffer laid out as
 * additive_ref's. */
static float *additive_run(sl_tensor **in, int relu, const float *g, int threads, size_t *len)
{
	sl_arena *a = sl_arena_new(0);
	sl_pool *pool = threads ? sl_pool_new(threads) : NULL;
	sl_tape *tp = sl_tape_new(a, pool);
	for (int i = 0; i < 4; i++)
		memset(in[i]->grad, 0, sl_tensor_numel(in[i]) * sizeof(float));
	const float *alpha;
	sl_tensor *c = sl_additive_attention(tp, in[0], in[1], in[2], in[3], relu, &alpha);
	size_t nc = sl_tensor_numel(c), nal = nc / in[2]->shape[2] * in[1]->shape[1], n = nc + nal;
	*len = n;
	for (int i = 0; i < 4; i++)
		*len += sl_tensor_numel(in[i]);
	float *res = malloc(*len * sizeof *res);
	memcpy(res, c->data, nc * sizeof *res);
	memcpy(res + nc, alpha, nal * sizeof *res);
	SL_ASSERT(sl_tape_backward_from(tp, c, g) == SL_OK);
	for (int i = 0; i < 4; i++) {
		memcpy(res + n, in[i]->grad, sl_tensor_numel(in[i]) * sizeof *res);
		n += sl_tensor_numel(in[i]);
	}
	sl_tape_free(tp);
	sl_pool_free(pool);
	sl_arena_free(a);
	return res;
}

/* max over the buffers (context, α, dq, dk, dx, dv) of the largest
 * difference relative to the buffer's largest element */
static double additive_err(sl_tensor **in, const float *got, const double *ref)
{
	int B = in[0]->shape[0], Tq = in[0]->shape[1], A = in[0]->shape[2], S = in[1]->shape[1], D = in[2]->shape[2];
	size_t len[6] = { B * Tq * D, B * Tq * S, B * Tq * A, B * S * A, B * S * D, A }, o = 0;
	double worst = 0;
	for (int p = 0; p < 6; p++) {
		double big = 0, err = 0;
		for (size_t i = o; i < o + len[p]; i++) {
			big = fmax(big, fabs(ref[i]));
			err = fmax(err, fabs(ref[i] - got[i]));
		}
		worst = fmax(worst, err / big);
		o += len[p];
	}
	return worst;
}

static sl_tensor **additive_inputs(sl_rng *r, int B, int Tq, int S, int A, int D, sl_tensor **in)
{
	int sq[3] = { B, Tq, A }, sk[3] = { B, S, A }, sx[3] = { B, S, D }, sv[1] = { A };
	in[0] = gc_input(r, 3, sq, -2, 2);
	in[1] = gc_input(r, 3, sk, -2, 2);
	in[2] = gc_input(r, 3, sx, -1, 1);
	in[3] = gc_input(r, 1, sv, -1, 1);
	return in;
}

/* Finite differences at a small size; at a decoder's (above the op's
 * threshold for threads) the same bits on no pool and 1, 2, 3 threads (B =
 * 11: uneven slices), and the context, α and the gradients within 4e-6
 * (relative to each buffer's largest) of the formula in double with libm's
 * tanh and exp. */
static void test_op(void)
{
	sl_rng r;
	sl_rng_seed(&r, 5);
	sl_tensor *in[4];
	additive_inputs(&r, 2, 3, 4, 5, 3, in);
	for (int relu = 0; relu < 2; relu++) {
		relu_ctx c = { relu };
		gc_check(relu ? "additive attention, relu (mlp)" : "additive attention, tanh", build_additive, &c, in, 4,
			 1e-3, 1e-3, 1e-2, 0);
	}
	for (int i = 0; i < 4; i++)
		gc_free(in[i]);
	enum { B = 11, Tq = 4, S = 12, A = 64, D = 64 }; /* B Tq S (A + 2 D) = 101376: over SL_PAR_MIN_WORK */
	additive_inputs(&r, B, Tq, S, A, D, in);
	float *g = malloc((size_t)B * Tq * D * sizeof *g);
	for (int i = 0; i < B * Tq * D; i++)
		g[i] = 2.0f * sl_rng_float(&r) - 1.0f;
	for (int relu = 0; relu < 2; relu++) {
		size_t n0, n;
		float *r0 = additive_run(in, relu, g, 0, &n0);
		int same = 1;
		for (int th = 1; th <= 3; th++) {
			float *rt = additive_run(in, relu, g, th, &n);
			same &= n == n0 && memcmp(r0, rt, n * sizeof *rt) == 0;
			free(rt);
		}
		const char *nm = relu ? "relu" : "tanh";
		TAP_OK(same, "additive attention (%s) B=%d S=%d A=%d: the same bits on no pool and 1, 2, 3 threads", nm,
		       B, S, A);
		double *ref = malloc(n0 * sizeof *ref);
		additive_ref(in, relu, g, ref);
		double worst = additive_err(in, r0, ref);
		TAP_OK(worst < 4e-6, "additive attention (%s): context, alignment and gradients match the formula in "
		       "double (worst %.2g)", nm, worst);
		free(ref);
		free(r0);
	}
	free(g);
	for (int i = 0; i < 4; i++)
		gc_free(in[i]);
}

static sl_model *model(const char *spec, int vocab, uint64_t seed)
{
	const char *keys[8], *vals[8];
	char buf[256], *save = NULL;
	int n = 0;
	snprintf(buf, sizeof buf, "%s", spec);
	for (char *w = strtok_r(buf, " ", &save); w && n < 8; w = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(w, '=');
		*eq = 0;
		keys[n] = w;
		vals[n++] = eq + 1;
	}
	sl_rng r;
	sl_rng_seed(&r, seed);
	sl_model_shape shape = { .vocab = vocab, .maxlen = 32 };
	return sl_model_new(sl_model_kind_find("rnn"), keys, vals, n, &shape, &r);
}

typedef struct fixture {
	sl_model *m;
	int32_t src[2 * 4], dec[2 * 3], out[2 * 3];
	int B, S, T;
} fixture;

static sl_tensor *loss_fn(sl_tape *tp, sl_tensor **in, void *ctx)
{
	(void)in;
	fixture *f = ctx;
	sl_tensor *logits = f->m->kind->seq2seq(f->m->impl, tp, f->src, f->dec, f->B, f->S, f->T);
	return sl_cross_entropy(tp, logits, f->out, -1, NULL);
}

static void grad_case(const char *spec)
{
	fixture f = { .B = 2, .S = 4, .T = 3 };
	f.m = model(spec, 7, 3);
	if (!TAP_OK(f.m != NULL, "rnn %s builds", spec))
		return;
	sl_rng r;
	sl_rng_seed(&r, 4);
	for (int i = 0; i < 8; i++)
		f.src[i] = (int32_t)sl_rng_below(&r, 7);
	for (int i = 0; i < 6; i++) {
		f.dec[i] = (int32_t)sl_rng_below(&r, 7);
		f.out[i] = (int32_t)sl_rng_below(&r, 7);
	}
	char label[128];
	snprintf(label, sizeof label, "rnn %s", spec);
	gc_check(label, loss_fn, &f, f.m->ps->t, f.m->ps->n, 1e-3, 2e-3, 2e-2, 0);
	sl_model_free(f.m);
}

/* log-probability of tokens y (n) after sos for source src (S) under teacher forcing */
static double score(sl_model *m, sl_tape *tp, const int32_t *src, int S, const int32_t *y, int n)
{
	int32_t dec[64];
	dec[0] = SOS;
	memcpy(dec + 1, y, (size_t)(n - 1) * sizeof *dec);
	sl_tensor *lg = m->kind->seq2seq(m->impl, tp, src, dec, 1, S, n);
	double s = 0;
	for (int t = 0; t < n; t++) {
		const float *z = lg->data + (size_t)t * VOC;
		double mx = z[sl_argmax(z, VOC)], lse = 0;
		for (int v = 0; v < VOC; v++)
			lse += exp(z[v] - mx);
		s += z[y[t]] - mx - log(lse);
	}
	sl_tape_reset(tp);
	return s;
}

static void decode_case(const char *spec)
{
	sl_model *m = model(spec, VOC, 11);
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	tp->grad_enabled = 0;
	enum { B = 6, S = 7, MAXT = 15 };
	int32_t src[B * S], o1[B * MAXT];
	int l1[B];
	sl_rng r;
	sl_rng_seed(&r, 12);
	for (int i = 0; i < B * S; i++)
		src[i] = 1 + (int32_t)sl_rng_below(&r, 26);
	sl_model_greedy(m, tp, src, B, S, MAXT, SOS, EOS, VOC, o1, l1);
	sl_tape_reset(tp);
	/* the teacher-forced pass over sos + the greedy output picks the same tokens */
	int same = 1, distinct = 0;
	double worst = 0;
	for (int b = 0; b < B; b++) {
		int32_t dec[MAXT];
		dec[0] = SOS;
		memcpy(dec + 1, o1 + b * MAXT, (size_t)(l1[b] - 1) * sizeof *dec);
		sl_tensor *lg = m->kind->seq2seq(m->impl, tp, src + b * S, dec, 1, S, l1[b]);
		for (int t = 0; t < l1[b]; t++) {
			same &= sl_argmax(lg->data + (size_t)t * VOC, VOC) == o1[b * MAXT + t];
			distinct |= t && o1[b * MAXT + t] != o1[b * MAXT];
		}
		/* and its alignment rows sum to 1 */
		const float *P = m->kind->attn_layers(m->impl, SL_ATTN_CROSS, &(int){ 0 }) ?
				 m->kind->attn_probs(m->impl, SL_ATTN_CROSS, 0) : NULL;
		for (int t = 0; P && t < l1[b]; t++) {
			double s = 0;
			for (int j = 0; j < S; j++)
				s += P[t * S + j];
			worst = fmax(worst, fabs(s - 1));
		}
		sl_tape_reset(tp);
	}
	TAP_OK(same, "%s: greedy decoding equals the argmax path of the teacher-forced forward pass", spec);
	TAP_OK(distinct, "%s: (the outputs are not one token repeated)", spec);
	TAP_OK(worst < 1e-5, "%s: alignment rows sum to 1 (worst %.2g)", spec, worst);
	int ok = 1, better = 1;
	for (int b = 0; b < B; b++) {
		int32_t ob[MAXT];
		int lb = sl_model_beam(m, tp, src + b * S, S, MAXT, SOS, EOS, 1, VOC, ob);
		sl_tape_reset(tp);
		ok &= lb == l1[b] && memcmp(ob, o1 + b * MAXT, (size_t)lb * sizeof *ob) == 0;
		lb = sl_model_beam(m, tp, src + b * S, S, MAXT, SOS, EOS, 4, VOC, ob);
		sl_tape_reset(tp);
		/* finished hypotheses only: greedy's (if it reached eos) never beats beam 4's */
		if (o1[b * MAXT + l1[b] - 1] == EOS && ob[lb - 1] == EOS)
			better &= score(m, tp, src + b * S, S, ob, lb) >= score(m, tp, src + b * S, S, o1 + b * MAXT, l1[b]) - 1e-4;
	}
	TAP_OK(ok, "%s: beam search of width 1 equals greedy", spec);
	TAP_OK(better, "%s: beam 4 scores at least greedy's log-probability", spec);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_model_free(m);
}

static void bad_case(const char *spec, const char *want)
{
	sl_model *m = model(spec, VOC, 1);
	TAP_OK(!m && strstr(sl_error(), want) && !strchr(sl_error(), '\n'), "%s is refused: %s", spec, sl_error());
	sl_model_free(m);
}

int main(void)
{
	test_op();
	grad_case("cell=gru attn=additive hidden=4 emb=3");
	grad_case("cell=lstm attn=mlp hidden=4 emb=3");
	grad_case("cell=tanh attn=none hidden=4 emb=3");
	grad_case("cell=lstm attn=additive hidden=3 layers=2");
	decode_case("cell=gru attn=additive hidden=16");
	decode_case("cell=lstm attn=mlp hidden=16 layers=2");
	decode_case("cell=tanh attn=none hidden=16");
	bad_case("cell=foo", "cell=foo");
	bad_case("hidden=0", "hidden=0");
	bad_case("attn=dot", "attn=dot");
	bad_case("layers=9", "layers=9");
	return tap_done();
}
