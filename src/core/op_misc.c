/* op_misc.c - placeholder, being written. */
#include "ops_impl.h"
void sl_op_dropout_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_dropout_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_conv1d_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_conv1d_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
