/* transformer.c - encoder-decoder Transformer, teacher-forced forward,
 * greedy decoding with a key/value cache, beam search. */
#include "seqlab/transformer.h"
#include "seqlab/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const norm_names[] = { "pre", "post", NULL };
static const char *const pe_names[] = { "sinusoidal", "learned", "none", NULL };
static const char *const attn_names[] = { "softmax", "linear", NULL };

#define OFF(f) offsetof(sl_transformer_config, f)
const sl_optspec sl_transformer_options[] = {
	{ "hidden", SL_OPT_INT, OFF(hidden), "64", 4, 1024, NULL, "model width" },
	{ "enc", SL_OPT_INT, OFF(enc), "2", 0, 16, NULL, "encoder layers" },
	{ "dec", SL_OPT_INT, OFF(dec), "2", 1, 16, NULL, "decoder layers" },
	{ "heads", SL_OPT_INT, OFF(heads), "8", 1, 64, NULL, "attention heads (divide hidden)" },
	{ "mlp", SL_OPT_INT, OFF(mlp), "4", 0, 16, NULL, "MLP width as a multiple of hidden; 0 = no MLP" },
	{ "norm", SL_OPT_ENUM, OFF(norm), "pre", 0, 0, norm_names, "LayerNorm before (pre) or after (post) each sublayer" },
	{ "enc_pe", SL_OPT_ENUM, OFF(enc_pe), "sinusoidal", 0, 0, pe_names, "encoder positions" },
	{ "dec_pe", SL_OPT_ENUM, OFF(dec_pe), "learned", 0, 0, pe_names, "decoder positions (learned ones start sinusoidal)" },
	{ "dropout", SL_OPT_FLOAT, OFF(dropout), "0", 0, 0.9, NULL, "dropout after embeddings and sublayers" },
	{ "attn", SL_OPT_ENUM, OFF(attn), "softmax", 0, 0, attn_names,
	  "softmax, or linear: phi(q).phi(k), phi = elu + 1 (every attention: encoder, decoder, cross)" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

typedef struct sl_tf_layer {
	sl_nn_norm n1, n2, n3;
	sl_nn_mha self, cross;
	sl_nn_mlp mlp;
} sl_tf_layer;

sl_transformer *sl_transformer_new(const sl_transformer_config *cfg, const sl_rng *rng)
{
	if (cfg->heads < 1 || cfg->hidden % cfg->heads) {
		sl_errorf("hidden=%d is not divisible by heads=%d", cfg->hidden, cfg->heads);
		return NULL;
	}
	if (cfg->hidden % 2) {
		sl_errorf("hidden=%d must be even (sinusoidal positions pair sin and cos)", cfg->hidden);
		return NULL;
	}
	if (cfg->enc > 16 || cfg->dec > 16 || cfg->dec < 1 || cfg->vocab < 2 || cfg->maxlen < 1) {
		sl_errorf("bad transformer shape (enc=%d dec=%d vocab=%d maxlen=%d)", cfg->enc, cfg->dec, cfg->vocab,
			  cfg->maxlen);
		return NULL;
	}
	sl_transformer *m = sl_xcalloc(1, sizeof *m);
	m->cfg = *cfg;
	m->ps = sl_params_new();
	int H = cfg->hidden, V = cfg->vocab, L = cfg->maxlen;
	char name[64];
	sl_nn_embedding_add(&m->src_emb, m->ps, "src_emb", V, H);
	sl_nn_embedding_add(&m->tgt_emb, m->ps, "tgt_emb", V, H);
	int ps2[2] = { L, H };
	m->sin_table = sl_xmalloc((size_t)L * H * sizeof(float));
	sl_nn_sinusoid(m->sin_table, L, H);
	sl_shape_set(&m->sin_src, 2, ps2);
	m->sin_src.data = m->sin_table;
	m->sin_tgt = m->sin_src;
	if (cfg->enc_pe == SL_PE_LEARNED) {
		m->src_pos = sl_params_add(m->ps, "src_pos", 2, ps2, SL_PARAM_NO_DECAY);
		sl_params_set_init(m->ps, m->src_pos, SL_INIT_MANUAL, 0, 0);
	}
	if (cfg->dec_pe == SL_PE_LEARNED) {
		m->tgt_pos = sl_params_add(m->ps, "tgt_pos", 2, ps2, SL_PARAM_NO_DECAY);
		sl_params_set_init(m->ps, m->tgt_pos, SL_INIT_MANUAL, 0, 0);
	}
	m->enc = sl_xcalloc((size_t)(cfg->enc ? cfg->enc : 1), sizeof *m->enc);
	m->dec = sl_xcalloc((size_t)cfg->dec, sizeof *m->dec);
	for (int side = 0; side < 2; side++) {
		int n = side ? cfg->dec : cfg->enc;
		for (int l = 0; l < n; l++) {
			sl_tf_layer *ly = side ? &m->dec[l] : &m->enc[l];
			const char *p = side ? "dec" : "enc";
#define N(suffix) (snprintf(name, sizeof name, "%s.%d.%s", p, l, suffix), name)
			sl_nn_norm_add(&ly->n1, m->ps, N("n1"), H, 0);
			sl_nn_mha_add(&ly->self, m->ps, N("self"), H, cfg->heads);
			sl_nn_norm_add(&ly->n2, m->ps, N("n2"), H, 0);
			if (side) {
				sl_nn_mha_add(&ly->cross, m->ps, N("cross"), H, cfg->heads);
				sl_nn_norm_add(&ly->n3, m->ps, N("n3"), H, 0);
			}
			if (cfg->mlp)
				sl_nn_mlp_add(&ly->mlp, m->ps, N("mlp"), H, cfg->mlp * H);
			ly->self.linear = ly->cross.linear = cfg->attn;
#undef N
		}
	}
	if (cfg->norm == 0) {
		sl_nn_norm_add(&m->enc_norm, m->ps, "enc_norm", H, 0);
		sl_nn_norm_add(&m->dec_norm, m->ps, "dec_norm", H, 0);
	}
	sl_nn_linear_add(&m->out, m->ps, "out", H, V, 1);
	sl_params_alloc(m->ps);
	sl_params_init(m->ps, rng);
	/* learned positions start from the sinusoid (as in the homework) */
	if (m->src_pos)
		memcpy(m->src_pos->data, m->sin_table, (size_t)L * H * sizeof(float));
	if (m->tgt_pos)
		memcpy(m->tgt_pos->data, m->sin_table, (size_t)L * H * sizeof(float));
	return m;
}

void sl_transformer_free(sl_transformer *m)
{
	if (!m)
		return;
	sl_params_free(m->ps);
	free(m->sin_table);
	free(m->enc);
	free(m->dec);
	free(m);
}

/* token embedding + positions [pos0, pos0+T) -> (B, T, H), dropout applied */
static sl_tensor *embed(sl_transformer *m, sl_tape *tp, int side, const int32_t *ids, int B, int T, int pos0)
{
	sl_tensor *x = sl_nn_embedding_forward(side ? &m->tgt_emb : &m->src_emb, tp, ids, B, T);
	int pe = side ? m->cfg.dec_pe : m->cfg.enc_pe;
	if (pe != SL_PE_NONE) {
		SL_ASSERT(pos0 + T <= m->cfg.maxlen);
		int32_t *pid = sl_arena_alloc(tp->arena, (size_t)B * T * sizeof(int32_t));
		for (int b = 0; b < B; b++)
			for (int t = 0; t < T; t++)
				pid[b * T + t] = pos0 + t;
		sl_tensor *table = pe == SL_PE_LEARNED ? (side ? m->tgt_pos : m->src_pos)
						       : (side ? &m->sin_tgt : &m->sin_src);
		x = sl_embedding_add(tp, x, table, pid);
	}
	return sl_dropout(tp, x, m->cfg.dropout);
}

/* y = x + sublayer(x), summed by the sublayer's output projection
 * (sl_nn_*_residual), then normalised under post-norm */
static sl_tensor *post(sl_transformer *m, sl_tape *tp, sl_tensor *y, const sl_nn_norm *n)
{
	return m->cfg.norm == 0 ? y : sl_nn_norm_forward(n, tp, y);
}

static sl_tensor *pre(sl_transformer *m, sl_tape *tp, sl_tensor *x, const sl_nn_norm *n)
{
	return m->cfg.norm == 0 ? sl_nn_norm_forward(n, tp, x) : x;
}

/* A leaf copy of x that requires a gradient (the gradient stops there). */
static sl_tensor *leaf_of(sl_tape *tp, const sl_tensor *x)
{
	sl_tensor *leaf = sl_tape_tensor(tp, x->ndim, x->shape);
	memcpy(leaf->data, x->data, sl_tensor_numel(x) * sizeof(float));
	leaf->requires_grad = 1;
	return leaf;
}

/* leaf (may be NULL): the embedded source as a leaf, for the gradient-flow view */
static sl_tensor *encode(sl_transformer *m, sl_tape *tp, const int32_t *src, int B, int S, sl_tensor **leaf)
{
	sl_tensor *x = embed(m, tp, 0, src, B, S, 0);
	float p = m->cfg.dropout;
	if (leaf)
		*leaf = x = leaf_of(tp, x);
	for (int l = 0; l < m->cfg.enc; l++) {
		sl_tf_layer *ly = &m->enc[l];
		sl_tensor *h = pre(m, tp, x, &ly->n1);
		x = post(m, tp, sl_nn_mha_residual(&ly->self, tp, h, h, 0, 0, &m->probs[SL_ATTN_ENC][l], x, p), &ly->n1);
		if (m->cfg.mlp) {
			h = pre(m, tp, x, &ly->n2);
			x = post(m, tp, sl_nn_mlp_residual(&ly->mlp, tp, h, x, p), &ly->n2);
		}
	}
	return m->cfg.norm == 0 ? sl_nn_norm_forward(&m->enc_norm, tp, x) : x;
}

static sl_tensor *forward(sl_transformer *m, sl_tape *tp, const int32_t *src, const int32_t *dec, int B, int S, int T,
			  sl_tensor **src_x, sl_tensor **dec_x)
{
	sl_tensor *mem = encode(m, tp, src, B, S, src_x);
	sl_tensor *y = embed(m, tp, 1, dec, B, T, 0);
	float p = m->cfg.dropout;
	if (dec_x)
		*dec_x = y = leaf_of(tp, y);
	for (int l = 0; l < m->cfg.dec; l++) {
		sl_tf_layer *ly = &m->dec[l];
		sl_tensor *h = pre(m, tp, y, &ly->n1);
		y = post(m, tp, sl_nn_mha_residual(&ly->self, tp, h, h, 1, 0, &m->probs[SL_ATTN_DEC][l], y, p), &ly->n1);
		h = pre(m, tp, y, &ly->n2);
		y = post(m, tp, sl_nn_mha_residual(&ly->cross, tp, h, mem, 0, 0, &m->probs[SL_ATTN_CROSS][l], y, p),
			 &ly->n2);
		if (m->cfg.mlp) {
			h = pre(m, tp, y, &ly->n3);
			y = post(m, tp, sl_nn_mlp_residual(&ly->mlp, tp, h, y, p), &ly->n3);
		}
	}
	if (m->cfg.norm == 0)
		y = sl_nn_norm_forward(&m->dec_norm, tp, y);
	m->probs_B = B;
	m->probs_S = S;
	m->probs_T = T;
	return sl_nn_linear_forward(&m->out, tp, y);
}

sl_tensor *sl_transformer_forward(sl_transformer *m, sl_tape *tp, const int32_t *src, const int32_t *dec, int B,
				  int S, int T)
{
	return forward(m, tp, src, dec, B, S, T, NULL, NULL);
}

sl_tensor *sl_transformer_forward_probe(sl_transformer *m, sl_tape *tp, const int32_t *src, const int32_t *dec, int B,
					int S, int T, sl_tensor **src_x, sl_tensor **dec_x)
{
	tp->keep_grads = 1; /* the caller reads the inputs' gradients */
	return forward(m, tp, src, dec, B, S, T, src_x, dec_x);
}

/* ---- decoding ----------------------------------------------------------- */

typedef struct dec_state {
	int B, S, cap;
	float **kc, **vc;          /* per layer (B, cap, H) self-attention caches */
	sl_tensor **km, **vm;      /* per layer (B, S, H) cross-attention keys/values */
} dec_state;

static void dec_begin(sl_transformer *m, sl_tape *tp, dec_state *st, const int32_t *src, int B, int S, int cap)
{
	int H = m->cfg.hidden, L = m->cfg.dec;
	st->B = B;
	st->S = S;
	st->cap = cap;
	st->kc = sl_arena_alloc(tp->arena, (size_t)L * sizeof *st->kc);
	st->vc = sl_arena_alloc(tp->arena, (size_t)L * sizeof *st->vc);
	st->km = sl_arena_alloc(tp->arena, (size_t)L * sizeof *st->km);
	st->vm = sl_arena_alloc(tp->arena, (size_t)L * sizeof *st->vm);
	sl_tensor *mem = encode(m, tp, src, B, S, NULL);
	for (int l = 0; l < L; l++) {
		st->kc[l] = sl_arena_alloc(tp->arena, (size_t)B * cap * H * sizeof(float));
		st->vc[l] = sl_arena_alloc(tp->arena, (size_t)B * cap * H * sizeof(float));
		st->km[l] = sl_nn_linear_forward(&m->dec[l].cross.k, tp, mem);
		st->vm[l] = sl_nn_linear_forward(&m->dec[l].cross.v, tp, mem);
	}
}

/* One decoder step at position t for tokens cur (B): logits (B, 1, V). */
static sl_tensor *dec_step(sl_transformer *m, sl_tape *tp, dec_state *st, const int32_t *cur, int t)
{
	int B = st->B, H = m->cfg.hidden, heads = m->cfg.heads;
	float scale = 1.0f / sqrtf((float)(H / heads));
	int s3[3] = { B, 1, H };
	sl_tensor *y = embed(m, tp, 1, cur, B, 1, t);
	float p = m->cfg.dropout;
	for (int l = 0; l < m->cfg.dec; l++) {
		sl_tf_layer *ly = &m->dec[l];
		sl_tensor *h = pre(m, tp, y, &ly->n1);
		sl_tensor *q = sl_nn_linear_forward(&ly->self.q, tp, h);
		sl_tensor *k = sl_nn_linear_forward(&ly->self.k, tp, h);
		sl_tensor *v = sl_nn_linear_forward(&ly->self.v, tp, h);
		for (int b = 0; b < B; b++) {
			memcpy(st->kc[l] + ((size_t)b * st->cap + t) * H, k->data + (size_t)b * H, (size_t)H * sizeof(float));
			memcpy(st->vc[l] + ((size_t)b * st->cap + t) * H, v->data + (size_t)b * H, (size_t)H * sizeof(float));
		}
		sl_tensor *a = sl_tape_tensor(tp, 3, s3);
		sl_attention_cached(tp, q, st->kc[l], st->vc[l], t + 1, st->cap, heads, 0, scale, a, NULL);
		y = post(m, tp, sl_nn_linear_residual(&ly->self.o, tp, a, y, p), &ly->n1);
		h = pre(m, tp, y, &ly->n2);
		q = sl_nn_linear_forward(&ly->cross.q, tp, h);
		a = sl_attention(tp, q, st->km[l], st->vm[l], heads, 0, 0, scale, NULL);
		y = post(m, tp, sl_nn_linear_residual(&ly->cross.o, tp, a, y, p), &ly->n2);
		if (m->cfg.mlp) {
			h = pre(m, tp, y, &ly->n3);
			y = post(m, tp, sl_nn_mlp_residual(&ly->mlp, tp, h, y, p), &ly->n3);
		}
	}
	if (m->cfg.norm == 0)
		y = sl_nn_norm_forward(&m->dec_norm, tp, y);
	return sl_nn_linear_forward(&m->out, tp, y);
}

void sl_transformer_greedy_nocache(sl_transformer *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT,
				   int sos, int eos, int32_t *out, int *len)
{
	int ge = tp->grad_enabled, tr = tp->training, V = m->cfg.vocab;
	tp->grad_enabled = 0;
	tp->training = 0;
	if (maxT > m->cfg.maxlen)
		maxT = m->cfg.maxlen;
	int32_t *dec = sl_xmalloc((size_t)B * (maxT + 1) * sizeof(int32_t));
	int live = B;
	for (int b = 0; b < B; b++)
		len[b] = -1;
	for (int t = 0; t < maxT && live > 0; t++) {
		for (int b = 0; b < B; b++) {
			dec[b * (t + 1)] = sos;
			for (int i = 0; i < t; i++)
				dec[b * (t + 1) + i + 1] = out[(size_t)b * maxT + i];
		}
		sl_tensor *logits = sl_transformer_forward(m, tp, src, dec, B, S, t + 1);
		for (int b = 0; b < B; b++) {
			int tok = sl_argmax(logits->data + ((size_t)b * (t + 1) + t) * V, V);
			out[(size_t)b * maxT + t] = tok;
			if (len[b] < 0 && (tok == eos || t == maxT - 1)) {
				len[b] = t + 1;
				live--;
			}
		}
	}
	free(dec);
	tp->grad_enabled = ge;
	tp->training = tr;
}

/* beam search through the decoder's key/value caches */
typedef struct tf_beam_ctx {
	sl_transformer *m;
	sl_tape *tp;
	dec_state st;
	int maxT;
	float *kbuf;
} tf_beam_ctx;

static const float *tf_beam_step(void *ctx, const int32_t *cur, int t)
{
	tf_beam_ctx *b = ctx;
	return dec_step(b->m, b->tp, &b->st, cur, t)->data;
}

static void tf_beam_reorder(void *ctx, const int *parent, int n, int t)
{
	tf_beam_ctx *b = ctx;
	int H = b->m->cfg.hidden;
	for (int l = 0; l < b->m->cfg.dec; l++)
		for (int c = 0; c < 2; c++) {
			float *cache = c ? b->st.vc[l] : b->st.kc[l];
			for (int i = 0; i < n; i++)
				memcpy(b->kbuf + (size_t)i * b->maxT * H, cache + (size_t)parent[i] * b->st.cap * H,
				       (size_t)(t + 1) * H * sizeof(float));
			for (int i = 0; i < n; i++)
				memcpy(cache + (size_t)i * b->st.cap * H, b->kbuf + (size_t)i * b->maxT * H,
				       (size_t)(t + 1) * H * sizeof(float));
		}
}

void sl_transformer_greedy(sl_transformer *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos,
			   int eos, int32_t *out, int *len)
{
	int ge = tp->grad_enabled, tr = tp->training;
	tp->grad_enabled = 0;
	tp->training = 0;
	if (maxT > m->cfg.maxlen)
		maxT = m->cfg.maxlen;
	tf_beam_ctx g = { .m = m, .tp = tp, .maxT = maxT };
	dec_begin(m, tp, &g.st, src, B, S, maxT);
	sl_beam_ops ops = { .ctx = &g, .step = tf_beam_step };
	sl_greedy_steps(&ops, B, m->cfg.vocab, maxT, sos, eos, sl_arena_alloc(tp->arena, (size_t)B * sizeof(int32_t)),
			out, len);
	tp->grad_enabled = ge;
	tp->training = tr;
}

int sl_transformer_beam(sl_transformer *m, sl_tape *tp, const int32_t *src, int S, int maxT, int sos, int eos,
			int beam, int32_t *out)
{
	int ge = tp->grad_enabled, tr = tp->training, K = beam;
	tp->grad_enabled = 0;
	tp->training = 0;
	if (maxT > m->cfg.maxlen)
		maxT = m->cfg.maxlen;
	/* the source repeated for each beam */
	int32_t *srcs = sl_arena_alloc(tp->arena, (size_t)K * S * sizeof(int32_t));
	for (int k = 0; k < K; k++)
		memcpy(srcs + (size_t)k * S, src, (size_t)S * sizeof(int32_t));
	tf_beam_ctx b = { .m = m, .tp = tp, .maxT = maxT };
	dec_begin(m, tp, &b.st, srcs, K, S, maxT);
	b.kbuf = sl_xmalloc((size_t)K * maxT * m->cfg.hidden * sizeof(float));
	sl_beam_ops ops = { .ctx = &b, .step = tf_beam_step, .reorder = tf_beam_reorder };
	int len = sl_beam_search(&ops, K, m->cfg.vocab, maxT, sos, eos, out);
	free(b.kbuf);
	tp->grad_enabled = ge;
	tp->training = tr;
	return len;
}

/* ---- the model kind -------------------------------------------------------------- */

static void *tf_create(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape, const sl_rng *rng)
{
	(void)kind;
	sl_transformer_config c = *(const sl_transformer_config *)cfg;
	c.vocab = shape->vocab;
	c.maxlen = shape->maxlen;
	return sl_transformer_new(&c, rng);
}

static void tf_destroy(void *impl)
{
	sl_transformer_free(impl);
}

static sl_params *tf_params(void *impl)
{
	return ((sl_transformer *)impl)->ps;
}

static sl_tensor *tf_seq2seq(void *impl, sl_tape *tp, const int32_t *src, const int32_t *dec, int B, int S, int T)
{
	return sl_transformer_forward(impl, tp, src, dec, B, S, T);
}

static sl_tensor *tf_s2s_probe(void *impl, sl_tape *tp, const int32_t *src, const int32_t *dec, int B, int S, int T,
			       sl_tensor **src_x, sl_tensor **dec_x)
{
	return sl_transformer_forward_probe(impl, tp, src, dec, B, S, T, src_x, dec_x);
}

static void tf_greedy(void *impl, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos, int eos,
		      int32_t *out, int *len)
{
	sl_transformer *m = impl;
	if (m->cfg.attn) /* linear attention: its caches are not key/value ones; re-run */
		sl_transformer_greedy_nocache(m, tp, src, B, S, maxT, sos, eos, out, len);
	else
		sl_transformer_greedy(m, tp, src, B, S, maxT, sos, eos, out, len);
}

static int tf_beam(void *impl, sl_tape *tp, const int32_t *src, int S, int maxT, int sos, int eos, int beam,
		   int32_t *out)
{
	sl_transformer *m = impl;
	if (m->cfg.attn) { /* linear attention decodes greedily (no key/value caches to search with) */
		int len;
		sl_transformer_greedy_nocache(m, tp, src, 1, S, maxT, sos, eos, out, &len);
		return len;
	}
	return sl_transformer_beam(m, tp, src, S, maxT, sos, eos, beam, out);
}

static int tf_greedy_steps(void *impl)
{
	return !((sl_transformer *)impl)->cfg.attn;
}

static void tf_work(const void *impl, double B, double S, double T, sl_work *w)
{
	const sl_transformer_config *c = &((const sl_transformer *)impl)->cfg;
	int H = c->hidden, F = c->mlp * H;
	for (int l = 0; l < c->enc; l++) {
		for (int p = 0; p < 4; p++)
			w->lin(w->ud, B * S, H, H);
		if (F) {
			w->lin(w->ud, B * S, H, F);
			w->lin(w->ud, B * S, F, H);
		}
		w->other += 3.0 * B * 2 * (2.0 * S * S * H);
	}
	for (int l = 0; l < c->dec; l++) {
		for (int p = 0; p < 4; p++)
			w->lin(w->ud, B * T, H, H);
		w->lin(w->ud, B * T, H, H); /* cross q */
		w->lin(w->ud, B * S, H, H); /* cross k, v on the encoder output */
		w->lin(w->ud, B * S, H, H);
		w->lin(w->ud, B * T, H, H); /* cross o */
		if (F) {
			w->lin(w->ud, B * T, H, F);
			w->lin(w->ud, B * T, F, H);
		}
		w->other += 3.0 * B * 2 * (2.0 * T * T * H + 2.0 * T * S * H);
	}
	w->lin(w->ud, B * T, H, c->vocab);
}

static int tf_attn_layers(void *impl, int which, int *heads)
{
	const sl_transformer_config *c = &((sl_transformer *)impl)->cfg;
	*heads = c->heads;
	return which == SL_ATTN_ENC ? c->enc : c->dec;
}

static const float *tf_attn_probs(void *impl, int which, int l)
{
	return ((sl_transformer *)impl)->probs[which][l];
}

const sl_model_kind sl_model_transformer = {
	.name = "transformer",
	.summary = "encoder-decoder Transformer (attention: encoder self, causal decoder self, cross)",
	.options = sl_transformer_options,
	.cfg_size = sizeof(sl_transformer_config),
	.create = tf_create,
	.destroy = tf_destroy,
	.params = tf_params,
	.seq2seq = tf_seq2seq,
	.s2s_probe = tf_s2s_probe,
	.greedy = tf_greedy,
	.beam = tf_beam,
	.greedy_steps = tf_greedy_steps,
	.attn_layers = tf_attn_layers,
	.attn_probs = tf_attn_probs,
	.work = tf_work,
};
