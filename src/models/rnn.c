/* rnn.c - the recurrent encoder-decoder with attention (Bahdanau et al.
 * 2015; the PyTorch translation tutorial's AttnDecoderRNN, the CSC413/CSE
 * 849 PA3 handout's RNNAttentionDecoder), on the cells of src/nn/rnn.c:
 *
 *   encoder   k_s = top layer of a stack of cells over the source's embeddings
 *   decoder   q_t = h_{t-1} (the top layer's previous state; starts at the
 *             encoder's last), e_ts = vᵀ act(W q_t + U k_s + b),
 *             α_t = softmax_s(e_t), c_t = Σ_s α_ts k_s,
 *             layer 0's input [embedding(y_{t-1}); c_t], logits = Linear(h_t)
 *
 * act = tanh (attn=additive, Bahdanau's) or ReLU (attn=mlp, the handout's
 * 2-layer MLP on [q; k], whose first layer is W q + U k + b); attn=none feeds
 * the embedding alone. Each decoder layer starts from the encoder layer's
 * last state (h, and c for the LSTM). Teacher forcing runs the same step
 * function T times; greedy and beam decoding step it from sos. */
#include "seqlab/model.h"
#include "seqlab/rnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ATTN_ADDITIVE, ATTN_MLP, ATTN_NONE };

typedef struct rnn_config {
	int cell;      /* enum sl_rnn_cell_kind */
	int attn;
	int hidden, layers, emb;
	float dropout;
} rnn_config;

static const char *const cell_names[] = { "tanh", "gru", "lstm", NULL };
static const char *const attn_names[] = { "additive", "mlp", "none", NULL };

#define OFF(f) offsetof(rnn_config, f)
static const sl_optspec options[] = {
	{ "cell", SL_OPT_ENUM, OFF(cell), "gru", 0, 0, cell_names, "the recurrent cell: tanh (Elman), gru or lstm" },
	{ "attn", SL_OPT_ENUM, OFF(attn), "additive", 0, 0, attn_names,
	  "attention over the source: additive (v.tanh(Wq + Uk)), mlp (ReLU in place of tanh) or none" },
	{ "hidden", SL_OPT_INT, OFF(hidden), "64", 1, 1024, NULL, "the cells' width (and the attention's)" },
	{ "layers", SL_OPT_INT, OFF(layers), "1", 1, 8, NULL, "stacked cells in the encoder and in the decoder" },
	{ "emb", SL_OPT_INT, OFF(emb), "0", 0, 1024, NULL, "embedding width; 0 = hidden" },
	{ "dropout", SL_OPT_FLOAT, OFF(dropout), "0", 0, 0.9, NULL, "dropout after embeddings and between layers" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

typedef struct rnn_model {
	rnn_config cfg;
	int V, E, H, L;
	sl_params *ps;
	sl_nn_embedding src_emb, tgt_emb;
	sl_rnn_cell enc[8], dec[8];
	sl_nn_linear wq, uk; /* the attention's projections (H, H): W without, U with the bias */
	sl_tensor *va;       /* (H) */
	sl_nn_linear out;    /* (V, H) */
	/* the alignment of the last seq2seq pass: (B, 1, T, S), valid until the tape is reset */
	float *probs;
} rnn_model;

static void *rnn_create(const sl_model_kind *kind, const void *cfgp, const sl_model_shape *shape, const sl_rng *rng)
{
	(void)kind;
	const rnn_config *cfg = cfgp;
	if (shape->vocab < 2) {
		sl_errorf("rnn: the task's vocabulary has %d tokens", shape->vocab);
		return NULL;
	}
	rnn_model *m = sl_xcalloc(1, sizeof *m);
	m->cfg = *cfg;
	m->V = shape->vocab;
	m->H = cfg->hidden;
	m->E = cfg->emb ? cfg->emb : cfg->hidden;
	m->L = cfg->layers;
	m->ps = sl_params_new();
	int H = m->H, E = m->E, attn = cfg->attn != ATTN_NONE;
	char name[32];
	sl_nn_embedding_add(&m->src_emb, m->ps, "src_emb", m->V, E);
	sl_nn_embedding_add(&m->tgt_emb, m->ps, "tgt_emb", m->V, E);
	for (int l = 0; l < m->L; l++) {
		snprintf(name, sizeof name, "enc.%d", l);
		sl_rnn_cell_add(&m->enc[l], m->ps, name, cfg->cell, l ? H : E, H);
	}
	for (int l = 0; l < m->L; l++) {
		snprintf(name, sizeof name, "dec.%d", l);
		sl_rnn_cell_add(&m->dec[l], m->ps, name, cfg->cell, l ? H : E + (attn ? H : 0), H);
	}
	if (attn) {
		sl_nn_linear_add(&m->wq, m->ps, "attn.w", H, H, 0);
		sl_nn_linear_add(&m->uk, m->ps, "attn.u", H, H, 1);
		m->va = sl_params_add(m->ps, "attn.v", 1, &H, 0);
		float s = 1.0f / sqrtf((float)H); /* as torch.nn.Linear(H, 1) */
		sl_params_set_init(m->ps, m->va, SL_INIT_UNIFORM, -s, s);
	}
	sl_nn_linear_add(&m->out, m->ps, "out", H, m->V, 1);
	sl_params_alloc(m->ps);
	sl_params_init(m->ps, rng);
	return m;
}

static void rnn_destroy(void *impl)
{
	rnn_model *m = impl;
	if (!m)
		return;
	sl_params_free(m->ps);
	free(m);
}

static sl_params *rnn_params(void *impl)
{
	return ((rnn_model *)impl)->ps;
}

/* ---- the encoder and one decoder step ---------------------------------------- */

typedef struct dec_state {
	int B, S;
	sl_tensor *keys;  /* (B, S, H) the encoder's top layer */
	sl_tensor *pkeys; /* (B, S, H) U keys + b */
	sl_tensor *h[8], *c[8]; /* (B, 1, H) per layer (c: the LSTM's) */
} dec_state;

static void encode(rnn_model *m, sl_tape *tp, dec_state *st, const int32_t *src, int B, int S)
{
	int H = m->H;
	st->B = B;
	st->S = S;
	sl_tensor *x = sl_dropout(tp, sl_nn_embedding_forward(&m->src_emb, tp, src, B, S), m->cfg.dropout);
	for (int l = 0; l < m->L; l++) {
		/* the whole source at once, one fused op; the decoder starts from its last state */
		const sl_rnn_cell *cl = &m->enc[l];
		int lstm = cl->kind == SL_RNN_LSTM;
		sl_tensor *xg = sl_nn_linear_forward(&cl->wx, tp, x);       /* (B, S, G H) */
		sl_tensor *y = sl_rnn_cell_seq(cl, tp, xg, lstm, NULL);     /* (B, S, H), LSTM (B, S, 2 H): h, c */
		sl_tensor *last = S > 1 ? sl_slice(tp, y, 1, S - 1, 1) : y; /* (B, 1, H or 2 H) */
		st->h[l] = lstm ? sl_slice(tp, last, 2, 0, H) : last;
		st->c[l] = lstm ? sl_slice(tp, last, 2, H, H) : NULL;
		x = lstm ? sl_slice(tp, y, 2, 0, H) : y;
		if (l + 1 < m->L)
			x = sl_dropout(tp, x, m->cfg.dropout);
	}
	st->keys = x;
	st->pkeys = m->cfg.attn != ATTN_NONE ? sl_nn_linear_forward(&m->uk, tp, x) : NULL;
}

/* One step for the embedded tokens e (B, 1, E): the top layer's new state
 * (B, 1, H); *alpha (if not NULL) the alignment (B, 1, S; arena) or NULL. */
static sl_tensor *dec_step(rnn_model *m, sl_tape *tp, dec_state *st, sl_tensor *e, const float **alpha)
{
	sl_tensor *in = e;
	const float *a = NULL;
	if (m->cfg.attn != ATTN_NONE) {
		sl_tensor *q = sl_nn_linear_forward(&m->wq, tp, st->h[m->L - 1]);
		sl_tensor *ctx = sl_additive_attention(tp, q, st->pkeys, st->keys, m->va, m->cfg.attn == ATTN_MLP, &a);
		sl_tensor *parts[2] = { e, ctx }; /* [embedding; context] */
		in = sl_concat(tp, parts, 2, 2);
	}
	for (int l = 0; l < m->L; l++) {
		const sl_rnn_cell *cl = &m->dec[l];
		sl_tensor *h = sl_rnn_cell_step(cl, tp, sl_nn_linear_forward(&cl->wx, tp, in), st->h[l], &st->c[l], NULL);
		st->h[l] = h;
		in = l + 1 < m->L ? sl_dropout(tp, h, m->cfg.dropout) : h;
	}
	if (alpha)
		*alpha = a;
	return in;
}

static sl_tensor *rnn_seq2seq(void *impl, sl_tape *tp, const int32_t *src, const int32_t *dec, int B, int S, int T)
{
	rnn_model *m = impl;
	dec_state st;
	encode(m, tp, &st, src, B, S);
	sl_tensor *e = sl_dropout(tp, sl_nn_embedding_forward(&m->tgt_emb, tp, dec, B, T), m->cfg.dropout);
	sl_tensor **outs = sl_arena_alloc(tp->arena, (size_t)T * sizeof *outs);
	m->probs = m->cfg.attn != ATTN_NONE ? sl_arena_alloc(tp->arena, (size_t)B * T * S * sizeof(float)) : NULL;
	for (int t = 0; t < T; t++) {
		const float *a;
		outs[t] = dec_step(m, tp, &st, sl_slice(tp, e, 1, t, 1), &a);
		for (int b = 0; a && b < B; b++)
			memcpy(m->probs + ((size_t)b * T + t) * S, a + (size_t)b * S, (size_t)S * sizeof(float));
	}
	sl_tensor *y = T > 1 ? sl_concat(tp, outs, T, 1) : outs[0];
	return sl_nn_linear_forward(&m->out, tp, sl_dropout(tp, y, m->cfg.dropout));
}

/* the next logits (B, 1, V) for tokens cur (B) */
static sl_tensor *dec_logits(rnn_model *m, sl_tape *tp, dec_state *st, const int32_t *cur)
{
	sl_tensor *e = sl_nn_embedding_forward(&m->tgt_emb, tp, cur, st->B, 1);
	return sl_nn_linear_forward(&m->out, tp, dec_step(m, tp, st, e, NULL));
}

/* ---- decoding ------------------------------------------------------------------ */

typedef struct rnn_beam_ctx {
	rnn_model *m;
	sl_tape *tp;
	dec_state st;
} rnn_beam_ctx;

static const float *rnn_beam_step(void *ctx, const int32_t *cur, int t)
{
	(void)t;
	rnn_beam_ctx *b = ctx;
	return dec_logits(b->m, b->tp, &b->st, cur)->data;
}

static void rnn_beam_reorder(void *ctx, const int *parent, int n, int t)
{
	(void)t;
	rnn_beam_ctx *b = ctx;
	size_t w = (size_t)b->m->H * sizeof(float);
	for (int l = 0; l < b->m->L; l++) {
		sl_mixer_reorder_rows(b->st.h[l]->data, w, b->st.B, parent, n);
		if (b->st.c[l])
			sl_mixer_reorder_rows(b->st.c[l]->data, w, b->st.B, parent, n);
	}
}

static void rnn_greedy(void *impl, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos,
		       int32_t *out, int *len)
{
	rnn_model *m = impl;
	int ge = tp->grad_enabled, tr = tp->training;
	tp->grad_enabled = 0;
	tp->training = 0;
	rnn_beam_ctx g = { .m = m, .tp = tp };
	encode(m, tp, &g.st, src, B, S);
	sl_beam_ops ops = { .ctx = &g, .step = rnn_beam_step };
	sl_greedy_steps(&ops, B, m->V, maxT, sos, eos, sl_arena_alloc(tp->arena, (size_t)B * sizeof(int32_t)), out,
			len);
	tp->grad_enabled = ge;
	tp->training = tr;
}

static int rnn_beam(void *impl, sl_tape *tp, const int32_t *src, int S, int maxT, int sos, int eos, int beam,
		    int32_t *out)
{
	rnn_model *m = impl;
	int ge = tp->grad_enabled, tr = tp->training, K = beam < 1 ? 1 : beam;
	tp->grad_enabled = 0;
	tp->training = 0;
	int32_t *srcs = sl_arena_alloc(tp->arena, (size_t)K * S * sizeof *srcs); /* the source in every row */
	for (int k = 0; k < K; k++)
		memcpy(srcs + (size_t)k * S, src, (size_t)S * sizeof *srcs);
	rnn_beam_ctx b = { .m = m, .tp = tp };
	encode(m, tp, &b.st, srcs, K, S);
	sl_beam_ops ops = { .ctx = &b, .step = rnn_beam_step, .reorder = rnn_beam_reorder };
	int len = sl_beam_search(&ops, K, m->V, maxT, sos, eos, out);
	tp->grad_enabled = ge;
	tp->training = tr;
	return len;
}

/* ---- the attn command's view, FLOP counts ------------------------------------ */

static int rnn_attn_layers(void *impl, int which, int *heads)
{
	rnn_model *m = impl;
	*heads = 1;
	return which == SL_ATTN_CROSS && m->cfg.attn != ATTN_NONE; /* no self-attention */
}

static const float *rnn_attn_probs(void *impl, int which, int l)
{
	(void)which;
	(void)l;
	return ((rnn_model *)impl)->probs;
}

static void rnn_work(const void *impl, double B, double S, double T, sl_work *w)
{
	const rnn_model *m = impl;
	int H = m->H;
	for (int side = 0; side < 2; side++)
		for (int l = 0; l < m->L; l++) {
			const sl_rnn_cell *c = side ? &m->dec[l] : &m->enc[l];
			double rows = B * (side ? T : S);
			w->lin(w->ud, rows, c->in, c->G * H);
			w->lin(w->ud, rows, H, c->G * H);
		}
	if (m->cfg.attn != ATTN_NONE) {
		w->lin(w->ud, B * S, H, H);
		w->lin(w->ud, B * T, H, H);
		w->other += 3.0 * B * T * S * (2.0 * H + 2.0 * H); /* scores, context */
	}
	w->lin(w->ud, B * T, H, m->V);
}

const sl_model_kind sl_model_rnn = {
	.name = "rnn",
	.summary = "recurrent encoder-decoder (tanh, GRU or LSTM cells) with additive (Bahdanau) attention",
	.options = options,
	.cfg_size = sizeof(rnn_config),
	.create = rnn_create,
	.destroy = rnn_destroy,
	.params = rnn_params,
	.seq2seq = rnn_seq2seq,
	.greedy = rnn_greedy,
	.beam = rnn_beam,
	.attn_layers = rnn_attn_layers,
	.attn_probs = rnn_attn_probs,
	.work = rnn_work,
};
