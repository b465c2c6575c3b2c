/* mixer.c - the list of mixers: pointers only; each kind is defined in its
 * own file. */
#include "seqlab/mixer.h"

#include <assert.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* In enum sl_mixer_id's order (the order help lists them). Positional and
 * declared without a size, so a missing row shortens the list and fails the
 * count check below (a designated list would keep its length and leave a
 * NULL inside, which ends every walk early). */
const sl_mixer_kind *const sl_mixers[] = {
	&sl_mixer_attn,
	&sl_mixer_linattn,
	&sl_mixer_mamba,
	&sl_mixer_s4d,
	&sl_mixer_lru,
	&sl_mixer_rglru,
	&sl_mixer_elman,
	&sl_mixer_gru,
	&sl_mixer_lstm,
	NULL,
};
static_assert(SL_COUNT(sl_mixers) == SL_MIXER_COUNT + 1, "every mixer needs a row in sl_mixers, then NULL");

const sl_mixer_kind *sl_mixer_by_letter(char letter)
{
	for (int i = 0; sl_mixers[i]; i++)
		if (sl_mixers[i]->letter == letter)
			return sl_mixers[i];
	return NULL;
}

const sl_mixer_kind *sl_mixer_find(const char *name)
{
	for (int i = 0; sl_mixers[i]; i++)
		if (strcmp(sl_mixers[i]->name, name) == 0)
			return sl_mixers[i];
	return NULL;
}

int sl_mixer_index(const sl_mixer_kind *kind)
{
	for (int i = 0; sl_mixers[i]; i++)
		if (sl_mixers[i] == kind)
			return i;
	SL_ASSERT(!"a registered mixer");
	return -1;
}

const char *sl_mixer_legend(void)
{
	static _Thread_local char buf[SL_MIXER_COUNT * 32];
	size_t k = 0;
	for (int i = 0; i < SL_MIXER_COUNT && k < sizeof buf; i++)
		k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%c = %s", i ? ", " : "", sl_mixers[i]->letter,
				      sl_mixers[i]->name);
	return buf;
}

int sl_mixer_view_find(const sl_mixer_kind *kind, const char *name)
{
	for (int i = 0; kind->views && kind->views[i].name; i++)
		if (strcmp(kind->views[i].name, name) == 0)
			return i;
	return -1;
}

void sl_mixer_grids_free(sl_mixer_grid *g, int n)
{
	for (int i = 0; i < n; i++) {
		free(g[i].v);
		g[i].v = NULL;
	}
}

void sl_mixer_reorder_rows(void *v, size_t w, int B, const int *parent, int n)
{
	if (!v)
		return;
	char *old = sl_xmalloc((size_t)B * w), *p = v;
	memcpy(old, p, (size_t)B * w);
	for (int i = 0; i < n; i++)
		memcpy(p + (size_t)i * w, old + (size_t)parent[i] * w, w);
	free(old);
}

void sl_mixer_diag_jacobian(const float *a, size_t stride, int n, int p, float *norm)
{
	double *prod = sl_xmalloc((size_t)n * sizeof *prod);
	for (int i = 0; i < n; i++)
		prod[i] = 1;
	norm[p] = 1;
	for (int t = p - 1; t >= 0; t--) {
		const float *ak = a + (size_t)(t + 1) * stride;
		double q = 0;
		for (int i = 0; i < n; i++) {
			prod[i] *= ak[i];
			q += prod[i] * prod[i];
		}
		norm[t] = (float)sqrt(q / n);
	}
	free(prod);
}
