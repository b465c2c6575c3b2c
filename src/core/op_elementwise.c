/* op_elementwise.c - placeholder, being written. */
#include "ops_impl.h"
void sl_op_add_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_add_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_mul_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_mul_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_scale_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_scale_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_bias_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_bias_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_gelu_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_gelu_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_silu_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_silu_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_relu_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_relu_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_tanh_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_tanh_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_sigmoid_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_sigmoid_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_softplus_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_softplus_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_exp_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_exp_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
