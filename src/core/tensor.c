/* tensor.c - shape helpers. */
#include "seqlab/tensor.h"

#include <stdio.h>

size_t sl_tensor_numel(const sl_tensor *t)
{
	size_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= (size_t)t->shape[i];
	return n;
}

int sl_tensor_dim(const sl_tensor *t, int i)
{
	if (i < 0)
		i += t->ndim;
	SL_ASSERT(i >= 0 && i < t->ndim);
	return t->shape[i];
}

size_t sl_tensor_rows(const sl_tensor *t)
{
	size_t n = 1;
	for (int i = 0; i + 1 < t->ndim; i++)
		n *= (size_t)t->shape[i];
	return n;
}

int sl_tensor_same_shape(const sl_tensor *a, const sl_tensor *b)
{
	if (a->ndim != b->ndim)
		return 0;
	for (int i = 0; i < a->ndim; i++)
		if (a->shape[i] != b->shape[i])
			return 0;
	return 1;
}

size_t sl_shape_set(sl_tensor *t, int ndim, const int *shape)
{
	SL_ASSERT(ndim >= 1 && ndim <= SL_MAXDIM);
	t->ndim = ndim;
	for (int i = 0; i < SL_MAXDIM; i++)
		t->shape[i] = i < ndim ? shape[i] : 1;
	for (int i = 0; i < ndim; i++)
		SL_ASSERT(shape[i] >= 1);
	return sl_tensor_numel(t);
}

char *sl_shape_str(const sl_tensor *t, char *buf, size_t n)
{
	size_t k = 0;
	k += (size_t)snprintf(buf + k, n - k, "(");
	for (int i = 0; i < t->ndim && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, i ? ", %d" : "%d", t->shape[i]);
	if (k < n)
		snprintf(buf + k, n - k, ")");
	return buf;
}
