/* rnn.h - the recurrent cells (seed 002's lecture): Elman's tanh RNN, the
 * GRU and the LSTM, over a whole sequence as one fused op (sl_rnn_seq,
 * backpropagation through time its own) or one step at a time, the same op
 * from the state the tape carries (step mode, a decoder). The mixers E, U and C (src/nn/rnn.c) wrap a cell
 * in a residual block; the rnn encoder-decoder (src/models/rnn.c) stacks
 * them. */
#ifndef SEQLAB_RNN_H
#define SEQLAB_RNN_H

#include "seqlab/nn.h"

/* One cell of width H over inputs of width in:
 *   Elman  h_t = tanh(W_x x_t + b + W_h h_{t-1})
 *   GRU    r, z = σ(W_xr x + b_r + W_hr h), σ(W_xz x + b_z + W_hz h),
 *          g = tanh(W_xg x + b_xg + r ⊙ (W_hg h + b_hg)), h = (1 - z) ⊙ g + z ⊙ h_prev
 *   LSTM   i, f, o = σ(·), g = tanh(·) of W_x x + b + W_h h; c = f ⊙ c + i ⊙ g, h = o ⊙ tanh(c)
 * initialised as torch.nn.GRU/LSTM (every weight and bias U(-1/√H, 1/√H)). */
typedef struct sl_rnn_cell {
	int kind, G, in, H;   /* G: gates (1, 3, 4) */
	sl_nn_linear wx, wh;  /* (G H, in) with the bias, (G H, H) without */
	sl_tensor *bhg;       /* GRU: the bias inside r ⊙ (W_hg h + b_hg) */
} sl_rnn_cell;

/* Declares the cell's parameters prefix.wx, prefix.wh (and prefix.bhg). */
void sl_rnn_cell_add(sl_rnn_cell *c, sl_params *ps, const char *prefix, int kind, int in, int H);
/* One step, sl_rnn_seq over T = 1 from the given states: xg = W_x x + b
 * (B, 1, G H) (sl_nn_linear_forward(&c->wx, x)), h (B, 1, H) the state,
 * *cs the LSTM's cell state (B, 1, H; replaced by the new one; unused
 * otherwise) -> the new h. *shown (if not NULL) gets the gate a view shows
 * (the GRU's z, the LSTM's f; no gradient) or NULL. */
sl_tensor *sl_rnn_cell_step(const sl_rnn_cell *c, sl_tape *tp, sl_tensor *xg, sl_tensor *h, sl_tensor **cs,
			    sl_tensor **shown);
/* The whole sequence at once from zero states, one fused op (sl_rnn_seq):
 * xg = W_x x + b (B, T, G H) -> h (B, T, H), or with_c (the LSTM's)
 * (B, T, 2 H) with c_t after h_t in each row; equal to sl_rnn_cell_step
 * looped over t. *trace (if not NULL) gets the op's trace (ops.h). */
sl_tensor *sl_rnn_cell_seq(const sl_rnn_cell *c, sl_tape *tp, sl_tensor *xg, int with_c, const sl_rnn_trace **trace);
/* A (B, 1, H) state of zeros from the tape. */
sl_tensor *sl_rnn_zeros(sl_tape *tp, int B, int H);

#endif
