/* ops.h - the differentiable ops. Each is registered in sl_ops[] with its
 * forward and backward together (src/core/ops.c) and has a finite-difference
 * gradient check in tests/test_ops.c, tests/test_ops_shape.c or its own test.
 *
 * All ops return a new temporary from the tape's arena. Shapes are checked with
 * SL_ASSERT: a mismatch is a programming error in the model code. */
#ifndef SEQLAB_OPS_H
#define SEQLAB_OPS_H

#include "seqlab/tape.h"

enum sl_op {
	SL_OP_LINEAR,
	SL_OP_MATMUL,
	SL_OP_ADD,
	SL_OP_MUL,
	SL_OP_SCALE,
	SL_OP_BIAS,
	SL_OP_RESHAPE,
	SL_OP_TRANSPOSE,
	SL_OP_SLICE,
	SL_OP_CONCAT,
	SL_OP_EMBEDDING,
	SL_OP_LAYERNORM,
	SL_OP_RMSNORM,
	SL_OP_GELU,
	SL_OP_SILU,
	SL_OP_RELU,
	SL_OP_TANH,
	SL_OP_SIGMOID,
	SL_OP_SOFTPLUS,
	SL_OP_EXP,
	SL_OP_SOFTMAX,
	SL_OP_CROSS_ENTROPY,
	SL_OP_DROPOUT,
	SL_OP_CONV1D,
	SL_OP_ATTENTION,
	SL_OP_SSM,               /* sl_ssm(), declared in seqlab/ssm.h */
	SL_OP_ROPE,
	SL_OP_LRU,               /* sl_lru() */
	SL_OP_RGLRU,             /* sl_rglru() */
	SL_OP_COLMUL,
	SL_OP_LINATTN,           /* sl_linear_attention() */
	SL_OP_S4D_KERNEL,        /* sl_s4d_kernel() */
	SL_OP_LCONV,             /* sl_causal_conv() */
	SL_OP_ADDITIVE,          /* sl_additive_attention() */
	SL_OP_RNN,               /* sl_rnn_seq() */
	SL_OP_BDLINEAR,          /* sl_bdlinear() */
	SL_OP_GELU_MUL,          /* sl_gelu_mul() */
	SL_OP_GELU_SKIP,
	SL_OP_GLU_RESIDUAL,
	SL_OP_MLP,               /* sl_mlp() */
	SL_OP_LINEAR_PAIR,       /* sl_linear_pair() */
	SL_OP_COUNT
};

extern const sl_op_def sl_ops[]; /* SL_OP_COUNT rows */
/* The op's name ("linear"), or "?" */
const char *sl_op_name(int op);

/* y = x W^T + b. x (..., in), w (out, in), b (out) or NULL -> (..., out).
 * One sgemm over all rows, rows split over the pool's threads. */
sl_tensor *sl_linear(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b);
/* res + sl_linear(x, w, b) in one op: the residual added in the matrix
 * kernel's store and its gradient taken in the same pass, the same bits as
 * sl_add(tp, res, sl_linear(tp, x, w, b)) (res: the output's shape). */
sl_tensor *sl_linear_residual(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b, sl_tensor *res);
/* res + gelu(x W1^T + b1) W2^T + b2, a position-wise MLP (res NULL: none;
 * b1, b2 may be NULL): one op, the same bits as sl_linear, sl_gelu and
 * sl_linear_residual (or sl_linear) in turn. x (..., H), w1 (F, H), w2 (O, F). */
sl_tensor *sl_mlp(sl_tape *tp, sl_tensor *x, sl_tensor *w1, sl_tensor *b1, sl_tensor *w2, sl_tensor *b2,
		  sl_tensor *res);
/* Two linear layers on one input, as one op: x (..., in), w1 (o1, in), w2
 * (o2, in), b1 (o1) and b2 (o2) or NULL -> (..., o1 + o2), the first o1
 * columns x W1^T + b1, the rest x W2^T + b2 (sl_glu_residual's halves).
 * The bits of sl_concat of sl_linear(x, w2, b2)'s and sl_linear(x, w1,
 * b1)'s outputs, the second recorded first: x's gradient dy1 W1, then
 * + dy2 W2. */
sl_tensor *sl_linear_pair(sl_tape *tp, sl_tensor *x, sl_tensor *w1, sl_tensor *b1, sl_tensor *w2, sl_tensor *b2);
/* C = op(A) op(B), op = transpose when ta/tb. 2-D (M,K)x(K,N), or 3-D with an
 * equal leading batch dimension. */
sl_tensor *sl_matmul(sl_tape *tp, sl_tensor *a, sl_tensor *b, int ta, int tb);
/* y = x W + b with W block-diagonal: x (..., heads * bw), w (heads, bw, bw),
 * b (heads * bw) or NULL -> (..., heads * bw); y's block h = x's block h
 * times w[h]. One strided product per block on the rows as they are laid out
 * (no transposes), blocks split over the pool's threads; the same bits as
 * the composed reshape, transpose, batched sl_matmul, transpose and sl_bias
 * with seqlab's matrix kernel (tests/test_ops_shape.c). */
sl_tensor *sl_bdlinear(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b);

/* Elementwise, same shapes. */
sl_tensor *sl_add(sl_tape *tp, sl_tensor *a, sl_tensor *b);
sl_tensor *sl_mul(sl_tape *tp, sl_tensor *a, sl_tensor *b);
/* s * x for a constant s. */
sl_tensor *sl_scale(sl_tape *tp, sl_tensor *x, float s);
/* x + b broadcast over rows: x (..., C), b (C). */
sl_tensor *sl_bias(sl_tape *tp, sl_tensor *x, sl_tensor *b);

/* The same data seen with another shape of equal element count (no copy). */
sl_tensor *sl_reshape(sl_tape *tp, sl_tensor *x, int ndim, const int *shape);
/* Swap dimensions d0 and d1 (negative counts from the end); a copy. */
sl_tensor *sl_transpose(sl_tape *tp, sl_tensor *x, int d0, int d1);
/* Elements [start, start+len) along dimension dim; a copy. */
sl_tensor *sl_slice(sl_tape *tp, sl_tensor *x, int dim, int start, int len);
/* Join n tensors along dim; all other dimensions equal. */
sl_tensor *sl_concat(sl_tape *tp, sl_tensor **xs, int n, int dim);
/* Rows of table (V, D) picked by ids, laid out as shape + (D). ndim <= 3.
 * Ids must be in [0, V). */
sl_tensor *sl_embedding(sl_tape *tp, sl_tensor *table, const int32_t *ids, int ndim, const int *shape);
/* x + sl_embedding(table, ids) in one op (ids: one per row of x, x (..., D)),
 * the same bits as sl_add(x, sl_embedding(...)): positions added to the
 * embedded tokens. */
sl_tensor *sl_embedding_add(sl_tape *tp, sl_tensor *x, sl_tensor *table, const int32_t *ids);

/* Normalise over the last dimension: layernorm with gain g and bias b (b may
 * be NULL), rmsnorm with gain g. */
sl_tensor *sl_layernorm(sl_tape *tp, sl_tensor *x, sl_tensor *g, sl_tensor *b, float eps);
sl_tensor *sl_rmsnorm(sl_tape *tp, sl_tensor *x, sl_tensor *g, float eps);

/* Activations, elementwise. gelu is the exact (erf) form, as torch.nn.GELU();
 * tanh and sigmoid are fastmath.h's (within 2e-7 of libm's, vectorised). */
sl_tensor *sl_gelu(sl_tape *tp, sl_tensor *x);
/* gelu(x) * u, one pass (the gated units of the RG-LRU block and its MLP):
 * the bits of sl_mul(sl_gelu(x), u), with no gelu(x) tensor in between */
sl_tensor *sl_gelu_mul(sl_tape *tp, sl_tensor *x, sl_tensor *u);
sl_tensor *sl_silu(sl_tape *tp, sl_tensor *x);
sl_tensor *sl_relu(sl_tape *tp, sl_tensor *x);
sl_tensor *sl_tanh(sl_tape *tp, sl_tensor *x);
sl_tensor *sl_sigmoid(sl_tape *tp, sl_tensor *x);
sl_tensor *sl_softplus(sl_tape *tp, sl_tensor *x);
sl_tensor *sl_exp(sl_tape *tp, sl_tensor *x);

/* Softmax over the last dimension. */
sl_tensor *sl_softmax(sl_tape *tp, sl_tensor *x);

/* Mean cross-entropy of logits (N, V) (or (..., V)) against targets (one per
 * row), skipping rows whose target equals ignore; fused log-softmax. Returns
 * a scalar (shape (1)). With no counted row the loss is 0. *count, if not NULL,
 * receives the number of counted rows. */
sl_tensor *sl_cross_entropy(sl_tape *tp, sl_tensor *logits, const int32_t *targets, int ignore, int *count);

/* Inverted dropout with drop probability p when tp->training, identity
 * otherwise. The mask is a counter-based hash of (tp->dropout_key, op index,
 * element): independent of threads. */
sl_tensor *sl_dropout(sl_tape *tp, sl_tensor *x, float p);
/* Nonzero when sl_dropout(tp, x, p) is more than x itself. */
int sl_dropout_applies(const sl_tape *tp, float p);

/* Causal depthwise 1-D convolution: x (B, T, C), w (C, K), b (C) or NULL:
 * y[b,t,c] = b[c] + sum_k w[c,k] * x[b, t-K+1+k, c] (zero before t=0). */
sl_tensor *sl_conv1d_causal(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b);
/* SiLU of the causal convolution, one op (Mamba's): the bits of
 * sl_silu(tp, sl_conv1d_causal(tp, x, w, b)), one pass fewer each way. */
sl_tensor *sl_conv1d_causal_silu(sl_tape *tp, sl_tensor *x, sl_tensor *w, sl_tensor *b);
/* The same on columns [col, col + C) of x (B, T, Cx), C = w's channels,
 * read in place (Mamba's in-projection, [x | z], with no copy of its x
 * half), their gradient added into x's at those columns: the same bits as
 * sl_conv1d_causal_silu(tp, sl_slice(tp, x, 2, col, C), w, b). */
sl_tensor *sl_conv1d_causal_silu_at(sl_tape *tp, sl_tensor *x, int col, sl_tensor *w, sl_tensor *b);

/* Rotary position embedding: x (B, T, H*Dh) with heads interleaved as (H, Dh),
 * Dh even; the pair (2i, 2i+1) of each head at position pos0 + t turns by
 * (pos0 + t) * base^(-2i/Dh) (base 10000 usually). Applied to queries and
 * keys, it makes their dot products depend only on relative positions. */
sl_tensor *sl_rope(sl_tape *tp, sl_tensor *x, int heads, int pos0, float base);

/* x * d broadcast over rows: x (..., C), d (C) (a per-channel scale). */
sl_tensor *sl_colmul(sl_tape *tp, sl_tensor *x, sl_tensor *d);

/* Fused chains, each one pass forward and one backward with the chain's bits
 * (where the chain's gradients reach each buffer in the same order):
 * gelu(a + x * d), a and x (..., C), d (C): sl_gelu(sl_add(a, sl_colmul(x, d))),
 * or with d NULL gelu(a + x): sl_gelu(sl_add(a, x));
 * h + a * sigmoid(b), all (..., C): sl_add(h, sl_mul(a, sl_sigmoid(b))), or
 * with b NULL and a (..., 2C) its halves as a and b (sl_slice's). */
sl_tensor *sl_gelu_skip(sl_tape *tp, sl_tensor *a, sl_tensor *x, sl_tensor *d);
sl_tensor *sl_glu_residual(sl_tape *tp, sl_tensor *h, sl_tensor *a, sl_tensor *b);

/* The LRU's complex diagonal recurrence (src/core/op_lrec.c), fused:
 * λ = exp(-exp(nu_log) + i exp(theta_log)), γ = exp(gamma_log) (N each),
 * x_t = λ x_{t-1} + γ bu_t over bu (B, T, 2N) (real parts in [0, N), the
 * imaginary in [N, 2N) of each row) -> x (B, T, 2N), same layout.
 * parallel: Blelloch's scan rather than the loop (equal to rounding). */
sl_tensor *sl_lru(sl_tape *tp, sl_tensor *nu_log, sl_tensor *theta_log, sl_tensor *gamma_log, sl_tensor *bu,
		  int parallel);
/* The RG-LRU's gated real recurrence, fused: x, ga, gx (B, T, D), lam (D):
 * a_t = exp(-8 σ(ga_t) softplus(lam)), h_t = a_t h_{t-1} + sqrt(1 - a_t²)
 * σ(gx_t) x_t -> h (B, T, D). */
sl_tensor *sl_rglru(sl_tape *tp, sl_tensor *x, sl_tensor *ga, sl_tensor *gx, sl_tensor *lam, int parallel);

/* Linear attention (Katharopoulos et al. 2020), fused: q (B, Tq, H*Dh),
 * k, v (B, Tk, H*Dh), heads interleaved as for sl_attention; φ = elu + 1,
 * y_t = Σ_s φ(q_t)·φ(k_s) v_s / (Σ_s φ(q_t)·φ(k_s) + 1e-6) over every key,
 * or (causal, Tq = Tk) over s <= t. *probs (if not NULL) gets the implied
 * attention (B, H, Tq, Tk), normalised rows, valid until the tape is reset. */
sl_tensor *sl_linear_attention(sl_tape *tp, sl_tensor *q, sl_tensor *k, sl_tensor *v, int heads, int causal,
			       float **probs);

/* S4D's convolution kernel (src/core/op_s4d.c): per channel h (H) and
 * complex mode n (M), Δ = exp(log_dt[h]), A = -exp(A_re_log[h,n]) +
 * i A_im[h,n], C (H, M, 2) (real, imaginary); disc 0 zoh, 1 bilinear ->
 * K (H, L), K[h,l] = 2 Re Σ_n C B̄ Ā^l. */
sl_tensor *sl_s4d_kernel(sl_tape *tp, sl_tensor *log_dt, sl_tensor *A_re_log, sl_tensor *A_im, sl_tensor *C, int L,
			 int disc);
/* The causal long convolution y[b,t,h] = Σ_{s<=t} K[h, t-s] u[b,s,h]: u (B, T, H),
 * K (H, L >= T) -> (B, T, H). */
sl_tensor *sl_causal_conv(sl_tape *tp, sl_tensor *u, sl_tensor *K);

/* Additive attention (src/core/op_additive.c), scores, softmax and context
 * fused: q (B, Tq, A) projected queries, k (B, S, A) projected keys, x
 * (B, S, D) the keys, v (A) -> the context c (B, Tq, D), c[b,t] =
 * Σ_s α[b,t,s] x[b,s], α[b,t] = softmax_s(e[b,t]), e[b,t,s] = Σ_a v[a]
 * act(q[b,t,a] + k[b,s,a]), act tanh (Bahdanau's vᵀ tanh(W q + U k)) or,
 * relu nonzero, ReLU (an MLP on [q; k]). *alpha (if not NULL) gets α
 * (B, Tq, S) in the arena, valid until the tape is reset. */
sl_tensor *sl_additive_attention(sl_tape *tp, sl_tensor *q, sl_tensor *k, sl_tensor *x, sl_tensor *v, int relu,
				 const float **alpha);
/* The recurrent cells (src/core/op_rnn.c; the lecture's, rnn.h's):
 *   Elman  h_t = tanh(a_t + W_h h_{t-1})
 *   GRU    r, z = σ(a_r + W_hr h), σ(a_z + W_hz h) (h = h_{t-1}),
 *          g = tanh(a_g + r ⊙ (W_hg h + b_hg)), h_t = (1 - z) ⊙ g + z ⊙ h_{t-1}
 *   LSTM   i, f, o = σ(·), g = tanh(·) of a_t + W_h h_{t-1} (gates in that order);
 *          c_t = f ⊙ c_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t)
 * from initial states h0 (B, 1, H) and, the LSTM's, c0 (B, 1, H) (NULL:
 * zeros), given a = xg (B, T, G H) = W_x x + b computed outside (G = 1, 3,
 * 4 gates), wh (G H, H), bhg (H) for the GRU only (NULL otherwise) ->
 * h (B, T, H), or with_c (LSTM) (B, T, 2 H): h_t then c_t in each row. */
enum sl_rnn_cell_kind { SL_RNN_TANH, SL_RNN_GRU, SL_RNN_LSTM };

/* What sl_rnn_seq's forward pass leaves in the arena (valid until the tape is
 * reset; read only): the output, the states and the gates. */
typedef struct sl_rnn_trace {
	int kind, B, T, H;
	int W;           /* the output's row: H, or 2 H with the cell state */
	int S;           /* saved floats per position: GRU 4 H (r, z, g, W_hg h + b_hg),
			    LSTM 6 H (i, f, g, o, c, tanh c), Elman 0 */
	const float *wh; /* (G H, H) */
	const float *hs; /* (B, T, W): the output */
	const float *hp; /* (B, T, H): h_{t-1} at t (at t = 0 the given state, or zeros) */
	const float *sv; /* (B, T, S) */
	const float *c0; /* (B, H): the LSTM's c_{-1} (given, or zeros); else NULL */
} sl_rnn_trace;

/* The cells over whole sequences as one op: per step one product h_{t-1}
 * W_hᵀ and the gates; backward through time one product per step for
 * dh_{t-1}, and dW_h as one product over every position at the end.
 * Sequences split over the pool's threads: with seqlab's matrix kernel
 * (sl_gemm) the same bits for any count, as for one thread.
 * *trace (if not NULL) gets the pass's trace. */
sl_tensor *sl_rnn_seq(sl_tape *tp, int kind, sl_tensor *xg, sl_tensor *wh, sl_tensor *bhg, sl_tensor *h0,
		      sl_tensor *c0, int with_c, const sl_rnn_trace **trace);
/* From a trace: sequence 0's gate a view shows (the GRU's z, the LSTM's f;
 * nothing for Elman) and its h, (T, H) each, into gate (if not NULL) and h. */
void sl_rnn_trace_seq0(const sl_rnn_trace *tr, float *gate, float *h);
/* The state Jacobian of sequence 0 across time: norm[t] = ||∂h_p/∂h_t||_F / √H
 * for t <= p (1 at t = p; h_t as a node: the LSTM's c_t held, as a
 * perturbation of h after step t). Backpropagates the trace's steps with
 * every unit of h_p as a seed at once; touches no gradient. */
void sl_rnn_trace_jacobian(const sl_rnn_trace *tr, int p, float *norm);

/* Multi-head scaled dot-product attention, fused: q (B, Tq, H*Dh), k and v
 * (B, Tk, H*Dh), heads interleaved as (H, Dh) in the last dimension, the
 * layout a linear projection produces -> (B, Tq, H*Dh).
 * Query i sees keys j <= i + (Tk - Tq) when causal (so a one-query step
 * against a cache of Tk keys sees them all), and only the last `window` of
 * those when window > 0. Scores are multiplied by scale (1/sqrt(Dh) usually).
 * If probs is not NULL it receives the probabilities (B, H, Tq, Tk) from the
 * arena, valid until the tape is reset. */
sl_tensor *sl_attention(sl_tape *tp, sl_tensor *q, sl_tensor *k, sl_tensor *v, int heads, int causal,
			int window, float scale, float **probs);
/* Forward only, for decoding with a key/value cache: q (B, Tq, H*Dh) against
 * the first Tk rows of caches laid out (B, cap, H*Dh); causal as above.
 * Writes out (same shape as q) and, if probs is not NULL, the probabilities
 * (B, H, Tq, Tk). Records nothing. */
void sl_attention_cached(sl_tape *tp, const sl_tensor *q, const float *kcache, const float *vcache, int Tk,
			 int cap, int heads, int window, float scale, sl_tensor *out, float *probs);
/* OpenBLAS's kernel family in use ("Haswell", "Cooperlake", ...): its own
 * choice for the CPU, or OPENBLAS_CORETYPE's. */
const char *sl_blas_core(void);
/* Keeps OpenBLAS single-threaded, as the products need (idempotent). Code
 * that calls OpenBLAS or LAPACK directly calls it first: OpenBLAS's own
 * threads otherwise spin and yield between calls on the cores seqlab's
 * threads use. */
void sl_blas_single(void);

/* Matrix products. The linear layers and sl_matmul multiply through
 * sl_sgemm, which uses seqlab's own kernel (sl_gemm) where the build has
 * one (AVX-512) and OpenBLAS's cblas_sgemm otherwise or when chosen.
 * sl_gemm's result does not depend on the machine's BLAS kernels: every
 * element is the fused multiply-add chain of sl_gemm_ref, bit for bit.
 * Arguments as cblas_sgemm's, row-major: C = alpha op(A) op(B) + beta C. */
void sl_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
	     const float *b, int ldb, float beta, float *c, int ldc);
void sl_gemm_ref(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
		 const float *b, int ldb, float beta, float *c, int ldc);
/* C (m, n) = bias + A B^T (A (m, k), B (n, k)): a linear layer's product
 * with its bias (bias: n floats, added to each row) in the kernel's store,
 * the same bits as copying the bias into C's rows and calling sl_gemm with
 * alpha = beta = 1 (sl_gemm_bias_ref), without the copy. */
void sl_gemm_bias(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
		  const float *bias, float *c, int ldc);
void sl_gemm_bias_ref(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
		      const float *bias, float *c, int ldc);
/* C (m, n) = res + (bias + A B^T), or res + A B^T without a bias (bias
 * NULL): a linear layer's product and the residual stream it is added to
 * (res: rows of ldr floats) in the kernel's store, the same bits as the
 * product stored and then added to res by sl_add (sl_gemm_res_ref). */
void sl_gemm_res(int m, int n, int k, const float *a, int lda, const float *b, int ldb, const float *bias,
		 const float *res, int ldr, float *c, int ldc);
void sl_gemm_res_ref(int m, int n, int k, const float *a, int lda, const float *b, int ldb, const float *bias,
		     const float *res, int ldr, float *c, int ldc);
/* An epilogue: called on each block of C (rows x cols at c, rows ldc apart)
 * once its final values are stored, while they are still in cache; an
 * elementwise map of them (a block never meets another twice). */
typedef void (*sl_gemm_epi)(void *ctx, float *c, int ldc, int rows, int cols);
/* sl_gemm (or, with a bias, sl_gemm_bias: then tb = 1 and alpha = beta = 1)
 * followed by epi over C: the same bits as the product stored and the map
 * run over all of it after (sl_gemm_epi_ref). */
void sl_gemm_epi_run(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
		     int ldb, float beta, const float *bias, float *c, int ldc, sl_gemm_epi epi, void *ectx);
void sl_gemm_epi_ref(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
		     int ldb, float beta, const float *bias, float *c, int ldc, sl_gemm_epi epi, void *ectx);
/* Two linear layers on one input in one product: C (m, n1 + n2) =
 * [bias1 + A B1^T, bias2 + A B2^T] (B1 (n1, k), B2 (n2, k)), B1's and B2's
 * rows packed as the panels of one matrix; the same bits as sl_gemm_bias on
 * each half of C (sl_gemm_bias2_ref), with one pass over A. */
void sl_gemm_bias2(int m, int k, const float *a, int lda, int n1, const float *b1, int ldb1, const float *bias1,
		   int n2, const float *b2, int ldb2, const float *bias2, float *c, int ldc);
void sl_gemm_bias2_ref(int m, int k, const float *a, int lda, int n1, const float *b1, int ldb1, const float *bias1,
		       int n2, const float *b2, int ldb2, const float *bias2, float *c, int ldc);
/* sl_gemm (tb = 0) over one stretch of a long k, so that the stretches of
 * a sum (a weight gradient's over rows) can run one after another on
 * different threads, each on the rows it holds: a (ta as sl_gemm's) and b
 * (k rows) start at the stretch's first row; first: each element's sum
 * starts from zero, else from the float parked in park by the stretch
 * before; last: it ends in C with sl_gemm's epilogue, else it is parked.
 * The stretches of a sum, first to last, give sl_gemm's bits on the whole
 * k. park: sl_gemm_park_floats(m, n) floats, 64-byte aligned. */
size_t sl_gemm_park_floats(int m, int n);
void sl_gemm_chain(int ta, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
		   float beta, float *c, int ldc, float *park, int first, int last);
void sl_gemm_chain_ref(int ta, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
		       float beta, float *c, int ldc, float *park, int first, int last);
/* The product the ops use: sl_gemm or cblas_sgemm (OpenBLAS kept
 * single-threaded), as chosen by sl_gemm_select. */
void sl_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
	      const float *b, int ldb, float beta, float *c, int ldc);
/* Nonzero if sl_gemm has its vector kernel in this build. */
int sl_gemm_available(void);
/* Chooses the products' kernel: "seqlab" (sl_gemm; an error where the build
 * has no vector kernel), "openblas", or "auto" (seqlab where available).
 * Not for use while a tape runs on other threads. */
int sl_gemm_select(const char *name);
/* The kernel in use: "seqlab" or "openblas". */
const char *sl_gemm_name(void);

/* The attention kernels have instances for head dims 4, 8, 16, 32 and 64
 * and a generic one, all giving the same bits; nonzero sends every head dim
 * to the generic one (for the equivalence test). Not for use while a tape
 * runs on other threads. */
extern int sl_attention_generic;
/* Nonzero if attention over Tk keys at head dim Dh runs the blocked kernel
 * (AVX-512 builds, more than 16 keys, head dims up to 64, and
 * sl_attention_generic off): register-tiled products that skip the tiles a
 * causal mask hides, the same bits as the generic kernel. */
int sl_attention_blocked(int Tk, int Dh);
/* Likewise for the selective scan: 1 runs it one channel at a time (the
 * plain version of its 16-channel kernel), 2 runs the 16-channel kernel's
 * portable form instead of its AVX-512 one (same bits, all three). */
extern int sl_ssm_generic;

#endif
