/* ops.c - the op table: every op's forward and backward, registered together. */
#include "ops_impl.h"

#include <assert.h>

#define OP(id, nm) [SL_OP_##id] = { #nm, sl_op_##nm##_forward, sl_op_##nm##_backward }

const sl_op_def sl_ops[] = {
	OP(LINEAR, linear),
	OP(MATMUL, matmul),
	OP(ADD, add),
	OP(MUL, mul),
	OP(SCALE, scale),
	OP(BIAS, bias),
	OP(RESHAPE, reshape),
	OP(TRANSPOSE, transpose),
	OP(SLICE, slice),
	OP(CONCAT, concat),
	OP(EMBEDDING, embedding),
	OP(LAYERNORM, layernorm),
	OP(RMSNORM, rmsnorm),
	OP(GELU, gelu),
	OP(SILU, silu),
	OP(RELU, relu),
	OP(TANH, tanh),
	OP(SIGMOID, sigmoid),
	OP(SOFTPLUS, softplus),
	OP(EXP, exp),
	OP(SOFTMAX, softmax),
	OP(CROSS_ENTROPY, cross_entropy),
	OP(DROPOUT, dropout),
	OP(CONV1D, conv1d),
	OP(ATTENTION, attention),
	OP(SSM, ssm),
	OP(ROPE, rope),
	OP(LRU, lru),
	OP(RGLRU, rglru),
	OP(COLMUL, colmul),
	OP(LINATTN, linattn),
	OP(S4D_KERNEL, s4d_kernel),
	OP(LCONV, lconv),
	OP(ADDITIVE, additive),
	OP(RNN, rnn),
	OP(BDLINEAR, bdlinear),
	OP(GELU_MUL, gelu_mul),
	OP(GELU_SKIP, gelu_skip),
	OP(GLU_RESIDUAL, glu_residual),
	OP(MLP, mlp),
	OP(LINEAR_PAIR, linear_pair),
};

/* sl_ops has no declared size: a missing last row shortens it and fails here
 * (a missing middle row leaves a NULL name, which test_core checks) */
static_assert(SL_COUNT(sl_ops) == SL_OP_COUNT, "every op needs a row in sl_ops");

const char *sl_op_name(int op)
{
	if (op < 0 || op >= SL_OP_COUNT || !sl_ops[op].name)
		return "?";
	return sl_ops[op].name;
}
