/* nn.h - differentiable layers built from ops: each declares its parameters
 * by name in a parameter store (with how to initialise them) and applies
 * itself on a tape. */
#ifndef SEQLAB_NN_H
#define SEQLAB_NN_H

#include "seqlab/ops.h"
#include "seqlab/params.h"

/* y = x W^T + b; W (out, in), b (out) or none. Init as torch.nn.Linear:
 * U(-1/sqrt(in), 1/sqrt(in)) for both. */
typedef struct sl_nn_linear {
	sl_tensor *w, *b;
} sl_nn_linear;
void sl_nn_linear_add(sl_nn_linear *l, sl_params *ps, const char *name, int in, int out, int bias);
sl_tensor *sl_nn_linear_forward(const sl_nn_linear *l, sl_tape *tp, sl_tensor *x);
/* res + dropout(x W^T + b, p): one op (sl_linear_residual) when the dropout
 * is the identity (p = 0, or not training), else the three; the same bits. */
sl_tensor *sl_nn_linear_residual(const sl_nn_linear *l, sl_tape *tp, sl_tensor *x, sl_tensor *res, float p);

/* LayerNorm (gain 1, bias 0) or RMSNorm (gain 1) over the last dimension. */
typedef struct sl_nn_norm {
	sl_tensor *g, *b;
	int rms;
	float eps;
} sl_nn_norm;
void sl_nn_norm_add(sl_nn_norm *n, sl_params *ps, const char *name, int dim, int rms);
sl_tensor *sl_nn_norm_forward(const sl_nn_norm *n, sl_tape *tp, sl_tensor *x);

/* Token embedding (V, D), N(0, 1) as torch.nn.Embedding. */
typedef struct sl_nn_embedding {
	sl_tensor *w;
} sl_nn_embedding;
void sl_nn_embedding_add(sl_nn_embedding *e, sl_params *ps, const char *name, int vocab, int dim);
/* A constant table instead (fixed input vectors, e.g. recall's embed=fixed):
 * row v is table[v] (d floats) followed by dim - d zeros (d <= dim). Not a
 * parameter: no gradient, not saved. Release with sl_nn_embedding_fixed_free(). */
void sl_nn_embedding_fixed(sl_nn_embedding *e, const float *table, int vocab, int d, int dim);
void sl_nn_embedding_fixed_free(sl_nn_embedding *e);
/* ids (B, T) -> (B, T, D) */
sl_tensor *sl_nn_embedding_forward(const sl_nn_embedding *e, sl_tape *tp, const int32_t *ids, int B, int T);

/* Multi-head attention: Q/K/V/O projections without bias, scale 1/sqrt(Dh);
 * linear: φ(q)·φ(k) attention (φ = elu + 1) instead of softmax (no window). */
typedef struct sl_nn_mha {
	sl_nn_linear q, k, v, o;
	int heads;
	int linear;
} sl_nn_mha;
void sl_nn_mha_add(sl_nn_mha *m, sl_params *ps, const char *name, int hidden, int heads);
/* xq (B, Tq, H), xkv (B, Tk, H) -> (B, Tq, H). *probs (if not NULL) gets the
 * probabilities (B, heads, Tq, Tk), valid until the tape is reset. */
sl_tensor *sl_nn_mha_forward(const sl_nn_mha *m, sl_tape *tp, sl_tensor *xq, sl_tensor *xkv, int causal, int window,
		     float **probs);
/* res + dropout(sl_nn_mha_forward(...), p), the sum in the output
 * projection's op (sl_nn_linear_residual) */
sl_tensor *sl_nn_mha_residual(const sl_nn_mha *m, sl_tape *tp, sl_tensor *xq, sl_tensor *xkv, int causal, int window,
			      float **probs, sl_tensor *res, float p);

/* Position-wise MLP: Linear(H, mH) -> GELU -> Linear(mH, H), with biases. */
typedef struct sl_nn_mlp {
	sl_nn_linear up, down;
} sl_nn_mlp;
void sl_nn_mlp_add(sl_nn_mlp *m, sl_params *ps, const char *name, int hidden, int inner);
sl_tensor *sl_nn_mlp_forward(const sl_nn_mlp *m, sl_tape *tp, sl_tensor *x);
/* res + dropout(sl_nn_mlp_forward(m, tp, x), p), the sum in the down
 * projection's op (sl_nn_linear_residual) */
sl_tensor *sl_nn_mlp_residual(const sl_nn_mlp *m, sl_tape *tp, sl_tensor *x, sl_tensor *res, float p);

/* The sinusoidal table of Vaswani et al.: pe[p, 2i] = sin(p / 10000^(2i/d)),
 * pe[p, 2i+1] = cos(same), for p < maxlen. */
void sl_nn_sinusoid(float *pe, int maxlen, int d);

#endif
