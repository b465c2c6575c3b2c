/* op_shape.c - placeholder, being written. */
#include "ops_impl.h"
void sl_op_reshape_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_reshape_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_transpose_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_transpose_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_slice_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_slice_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_concat_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_concat_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_embedding_forward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
void sl_op_embedding_backward(sl_tape *tp, sl_node *n) { (void)tp; (void)n; SL_ASSERT(!"todo"); }
