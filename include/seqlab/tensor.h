/* tensor.h - float32 tensors of up to four dimensions, row-major and contiguous. */
#ifndef SEQLAB_TENSOR_H
#define SEQLAB_TENSOR_H

#include "seqlab/common.h"

#define SL_MAXDIM 4

/* The index of the largest of x[0..n), the first one on ties. */
static inline int sl_argmax(const float *x, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

typedef struct sl_tensor {
	float *data;       /* values, row-major, contiguous */
	float *grad;       /* d(loss)/d(data), same layout; NULL until backward needs it */
	int ndim;
	int shape[SL_MAXDIM];
	int requires_grad; /* a parameter, or computed from one */
	const char *name;  /* parameter name, or NULL for temporaries */
} sl_tensor;

/* Number of elements. */
size_t sl_tensor_numel(const sl_tensor *t);
/* Size of dimension i; negative i counts from the end (-1 = last). */
int sl_tensor_dim(const sl_tensor *t, int i);
/* Product of all dimensions but the last (the "rows" of a row-wise op). */
size_t sl_tensor_rows(const sl_tensor *t);
/* 1 if a and b have the same shape. */
int sl_tensor_same_shape(const sl_tensor *a, const sl_tensor *b);
/* Fill in ndim and shape from a list; returns the element count. */
size_t sl_shape_set(sl_tensor *t, int ndim, const int *shape);
/* Writes "(2, 3, 4)" into buf; returns buf. */
char *sl_shape_str(const sl_tensor *t, char *buf, size_t n);

#endif
