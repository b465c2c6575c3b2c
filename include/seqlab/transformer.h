/* transformer.h - the encoder-decoder Transformer (Vaswani et al.) for
 * character-level translation: multi-head attention (encoder self, causal
 * decoder self, cross), GELU MLP, residuals, pre- or post-LayerNorm, and
 * sinusoidal / learned / no positions on each side. */
#ifndef SEQLAB_TRANSFORMER_H
#define SEQLAB_TRANSFORMER_H

#include "seqlab/model.h"
#include "seqlab/nn.h"
#include "seqlab/optspec.h"
#include "seqlab/rng.h"

enum sl_pe { SL_PE_SINUSOIDAL, SL_PE_LEARNED, SL_PE_NONE };

typedef struct sl_transformer_config {
	int hidden, enc, dec, heads, mlp; /* mlp: inner width as a multiple of hidden; 0 = no MLP */
	int norm;                         /* 0 pre-LN, 1 post-LN */
	int enc_pe, dec_pe;               /* enum sl_pe */
	float dropout;
	int attn;                         /* 0 softmax, 1 linear (φ = elu + 1) */
	int vocab;                        /* set by the task */
	int maxlen;                       /* positions; set by the task */
} sl_transformer_config;

/* hidden=64 enc=2 dec=2 heads=8 mlp=4 norm=pre enc_pe=sinusoidal dec_pe=learned dropout=0 attn=softmax */
extern const sl_optspec sl_transformer_options[];


typedef struct sl_transformer {
	sl_transformer_config cfg;
	sl_params *ps;
	sl_nn_embedding src_emb, tgt_emb;
	sl_tensor *src_pos, *tgt_pos;       /* (maxlen, hidden): parameters if learned */
	float *sin_table;                   /* (maxlen, hidden) sinusoidal, owned */
	sl_tensor sin_src, sin_tgt;         /* views of sin_table for the ops */
	struct sl_tf_layer *enc, *dec;
	sl_nn_norm enc_norm, dec_norm;      /* final norms (pre-LN) */
	sl_nn_linear out;
	/* The attention probabilities of the last forward pass, per kind and
	 * layer: (B, heads, Tq, Tk), valid until the tape is reset. */
	float *probs[SL_ATTN_KINDS][16];
	int probs_B, probs_S, probs_T;
} sl_transformer;

/* Builds the model, declares and initialises its parameters from rng
 * (stream per parameter name). Returns NULL with the error set for a bad
 * configuration (e.g. hidden not divisible by heads). */
sl_transformer *sl_transformer_new(const sl_transformer_config *cfg, const sl_rng *rng);
void sl_transformer_free(sl_transformer *m);

/* Teacher-forced logits (B, T, V) for sources src (B, S) and decoder inputs
 * dec (B, T). Keeps the attention probabilities (see probs). */
sl_tensor *sl_transformer_forward(sl_transformer *m, sl_tape *tp, const int32_t *src, const int32_t *dec, int B,
				  int S, int T);
/* The same, with the embedded source (B, S, H) and the embedded decoder
 * input (B, T, H) as leaves requiring gradients (*src_x, *dec_x): their
 * grads after backward are ∂loss/∂x_s and ∂loss/∂y_t. */
sl_tensor *sl_transformer_forward_probe(sl_transformer *m, sl_tape *tp, const int32_t *src, const int32_t *dec, int B,
					int S, int T, sl_tensor **src_x, sl_tensor **dec_x);

/* Greedy decoding with a key/value cache: for each of B sources (B, S),
 * starting from sos, up to maxT tokens or eos. out (B, maxT) receives the
 * tokens (eos included when produced), len (B) their counts. Runs with
 * gradients off; resets nothing (call sl_tape_reset after). */
void sl_transformer_greedy(sl_transformer *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT, int sos,
			   int eos, int32_t *out, int *len);
/* The same without the cache: re-runs the whole decoder every step. For tests. */
void sl_transformer_greedy_nocache(sl_transformer *m, sl_tape *tp, const int32_t *src, int B, int S, int maxT,
				   int sos, int eos, int32_t *out, int *len);
/* Beam search for one source (1, S): the best of `beam` hypotheses by total
 * log-probability; out (maxT), returns the length. */
int sl_transformer_beam(sl_transformer *m, sl_tape *tp, const int32_t *src, int S, int maxT, int sos, int eos,
			int beam, int32_t *out);

#endif
