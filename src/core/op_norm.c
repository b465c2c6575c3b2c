/* op_norm.c - placeholder, being written. */
#include "ops_impl.h"
void sl_op_layernorm_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_layernorm_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_rmsnorm_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_rmsnorm_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_softmax_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_softmax_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_cross_entropy_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_cross_entropy_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
