/* pixels.c - images as sequences (seed 003's pixel-by-pixel generation):
 * Debian's Fashion-MNIST (dataset-fashion-mnist: the IDX files, gzip'd,
 * under /usr/share/datasets/fashion-mnist), each 28 x 28 image shrunk to
 * size x size by averaging the source pixels each output pixel covers,
 * quantised to `levels` grey levels (3 bits: 8), flattened row by row; a
 * language model reads a start token then the pixels and predicts each
 * pixel from those before it. Training images from the training file (one
 * class=N, or all), drawn from (task seed, run seed, epoch, batch index);
 * the validation loss is the mean negative log-likelihood per pixel over the
 * first `test` images of the test file, in nats (bits per pixel: / ln 2). */
#include "seqlab/task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define PIXELS_DIR "/usr/share/datasets/fashion-mnist"
#define SRC 28

typedef struct pixels_config {
	char dir[SL_OPT_STRMAX];
	int size, levels, cls, batches, test;
} pixels_config;

#define OFF(f) offsetof(pixels_config, f)
static const sl_optspec options[] = {
	{ "dir", SL_OPT_STR, OFF(dir), PIXELS_DIR, 0, 0, NULL,
	  "the IDX files (train-images-idx3-ubyte.gz ...; Debian's dataset-fashion-mnist)" },
	{ "size", SL_OPT_INT, OFF(size), "16", 2, 28, NULL, "image side after shrinking (28: none)" },
	{ "levels", SL_OPT_INT, OFF(levels), "8", 2, 256, NULL, "grey levels (8: 3 bits)" },
	{ "class", SL_OPT_INT, OFF(cls), "-1", -1, 9, NULL, "one class 0..9 (0 T-shirt ... 9 ankle boot); -1 = all" },
	{ "batches", SL_OPT_INT, OFF(batches), "100", 1, 1000000, NULL, "batches in a nominal epoch, drawn from the seed" },
	{ "test", SL_OPT_INT, OFF(test), "256", 1, 10000, NULL, "test images scored" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};
#undef OFF

typedef struct pixels {
	uint8_t *train, *test; /* (n, size*size) quantised */
	int ntrain, ntest, size, levels, batches;
	uint64_t seed;
} pixels;

/* n images (and labels) of an IDX pair, or NULL with the error set */
static uint8_t *read_idx(const char *path, int want_magic, int *n, size_t *each)
{
	gzFile f = gzopen(path, "rb");
	if (!f) {
		sl_errorf("cannot open '%s' (install the Debian package dataset-fashion-mnist, or give dir=)", path);
		return NULL;
	}
	unsigned char h[16];
	int nh = want_magic == 2051 ? 16 : 8;
	if (gzread(f, h, (unsigned)nh) != nh) {
		gzclose(f);
		sl_errorf("%s: not an IDX file (too short)", path);
		return NULL;
	}
	int magic = h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
	long count = (long)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7];
	if (magic != want_magic || count < 1 || count > 1000000 ||
	    (nh == 16 && ((h[8] << 24 | h[9] << 16 | h[10] << 8 | h[11]) != SRC ||
			  (h[12] << 24 | h[13] << 16 | h[14] << 8 | h[15]) != SRC))) {
		gzclose(f);
		sl_errorf("%s: not a 28x28 IDX %s file", path, nh == 16 ? "image" : "label");
		return NULL;
	}
	*each = nh == 16 ? SRC * SRC : 1;
	size_t bytes = (size_t)count * *each;
	uint8_t *d = sl_xmalloc(bytes);
	if (gzread(f, d, (unsigned)bytes) != (int)bytes) {
		gzclose(f);
		free(d);
		sl_errorf("%s: truncated", path);
		return NULL;
	}
	gzclose(f);
	*n = (int)count;
	return d;
}

/* the images of one split (class cls, or all), shrunk and quantised */
static uint8_t *load_split(const char *dir, const char *prefix, int cls, int size, int levels, int max, int *n)
{
	char pi[SL_OPT_STRMAX + 64], pl[SL_OPT_STRMAX + 64];
	snprintf(pi, sizeof pi, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
	snprintf(pl, sizeof pl, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
	int ni, nl;
	size_t ei, el;
	uint8_t *img = read_idx(pi, 2051, &ni, &ei);
	if (!img)
		return NULL;
	uint8_t *lab = read_idx(pl, 2049, &nl, &el);
	if (!lab || nl != ni) {
		if (lab)
			sl_errorf("%s: %d labels for %d images", pl, nl, ni);
		free(img);
		free(lab);
		return NULL;
	}
	int P = size * size, k = 0;
	uint8_t *out = sl_xmalloc((size_t)ni * P);
	for (int i = 0; i < ni && k < max; i++) {
		if (cls >= 0 && lab[i] != cls)
			continue;
		const uint8_t *src = img + (size_t)i * SRC * SRC;
		for (int r = 0; r < size; r++)
			for (int c = 0; c < size; c++) {
				/* the source pixels this output pixel covers */
				int r0 = r * SRC / size, r1 = ((r + 1) * SRC + size - 1) / size;
				int c0 = c * SRC / size, c1 = ((c + 1) * SRC + size - 1) / size;
				unsigned sum = 0, cnt = 0;
				for (int y = r0; y < r1; y++)
					for (int x = c0; x < c1; x++, cnt++)
						sum += src[y * SRC + x];
				double v = (double)sum / cnt / 256.0;
				int q = (int)(v * levels);
				out[(size_t)k * P + r * size + c] = (uint8_t)(q < levels ? q : levels - 1);
			}
		k++;
	}
	free(img);
	free(lab);
	*n = k;
	return out;
}

static void *plan_new(sl_task *t, int bsz, uint64_t seed, int64_t epoch, int shuffle)
{
	(void)shuffle;
	const pixels *p = t->impl;
	return sl_task_plan_new(p->seed, p->batches, bsz, seed, epoch);
}

/* image i as a sequence: start token, then the pixels; targets the pixels */
static void image(const pixels *p, const uint8_t *img, int32_t *x, int32_t *y)
{
	int P = p->size * p->size;
	x[0] = p->levels; /* the start token */
	for (int j = 0; j < P; j++) {
		if (j + 1 < P)
			x[j + 1] = img[j];
		y[j] = img[j];
	}
}

static void batch(sl_task *t, const void *plan, int index, sl_batch *b)
{
	memset(b, 0, sizeof *b);
	const pixels *p = t->impl;
	const sl_task_plan *pl = plan;
	sl_rng r = sl_task_plan_rng(pl, index);
	int P = p->size * p->size;
	b->B = pl->bsz;
	b->S = 0;
	b->T = P;
	b->src = NULL;
	b->inp = sl_xmalloc((size_t)b->B * P * sizeof(int32_t));
	b->tgt = sl_xmalloc((size_t)b->B * P * sizeof(int32_t));
	for (int i = 0; i < b->B; i++)
		image(p, p->train + (size_t)sl_rng_below(&r, (uint32_t)p->ntrain) * P, b->inp + (size_t)i * P,
		      b->tgt + (size_t)i * P);
}

static sl_tensor *loss(sl_task *t, sl_model *m, sl_tape *tp, const sl_batch *b, int *count)
{
	(void)t;
	return sl_task_lm_loss(m, tp, b, count);
}

static void eval(sl_task *t, sl_model *m, sl_tape *tp, sl_eval *e, sl_mistakes *mk)
{
	(void)mk;
	const pixels *p = t->impl;
	int P = p->size * p->size, ge = tp->grad_enabled, tr = tp->training, ok = m->kind->lm != NULL, V = p->levels + 1;
	double loss_sum = 0;
	long scored = 0, correct = 0;
	int32_t *x = sl_xmalloc((size_t)16 * P * sizeof *x), *y = sl_xmalloc((size_t)16 * P * sizeof *y);
	for (int i0 = 0; i0 < p->ntest && ok; i0 += 16) {
		int B = p->ntest - i0 < 16 ? p->ntest - i0 : 16;
		for (int i = 0; i < B; i++)
			image(p, p->test + (size_t)(i0 + i) * P, x + (size_t)i * P, y + (size_t)i * P);
		sl_tape_reset(tp);
		tp->grad_enabled = 0;
		tp->training = 0;
		sl_tensor *logits = m->kind->lm(m->impl, tp, x, B, P);
		if (!logits) {
			ok = 0;
			break;
		}
		int count = 0;
		sl_tensor *l = sl_cross_entropy(tp, logits, y, -1, &count);
		loss_sum += (double)l->data[0] * count;
		for (size_t k = 0; k < (size_t)B * P; k++, scored++)
			correct += sl_argmax(logits->data + k * V, V) == y[k];
	}
	free(x);
	free(y);
	sl_tape_reset(tp);
	tp->grad_enabled = ge;
	tp->training = tr;
	e->val_loss = ok && scored ? loss_sum / scored : NAN;
	e->val_acc = ok && scored ? (double)correct / scored : NAN;
	e->cer = NAN;
	e->words = (int)scored;
	e->correct = (int)correct;
}

static int image_shape(sl_task *t, int *side, int *levels)
{
	const pixels *p = t->impl;
	*side = p->size;
	*levels = p->levels;
	return p->levels; /* the start token */
}

static void task_free(sl_task *t)
{
	pixels *p = t->impl;
	free(p->train);
	free(p->test);
	free(p);
	free(t);
}

static const sl_task_ops pixels_ops = {
	.name = "pixels",
	.plan_new = plan_new,
	.plan_free = sl_task_plan_free,
	.plan_batches = sl_task_plan_batches,
	.batch = batch,
	.loss = loss,
	.eval = eval,
	.image = image_shape,
	.free = task_free,
};

static sl_task *create(void *cfg, uint64_t given, uint64_t seed, char *info, size_t n)
{
	(void)given;
	const pixels_config *c = cfg;
	pixels *p = sl_xcalloc(1, sizeof *p);
	p->size = c->size;
	p->levels = c->levels;
	p->batches = c->batches;
	p->seed = seed;
	p->train = load_split(c->dir, "train", c->cls, c->size, c->levels, 1 << 30, &p->ntrain);
	if (p->train)
		p->test = load_split(c->dir, "t10k", c->cls, c->size, c->levels, c->test, &p->ntest);
	if (!p->train || !p->test || p->ntrain == 0 || p->ntest == 0) {
		if (p->train && p->test)
			sl_errorf("class=%d has no images", c->cls);
		free(p->train);
		free(p->test);
		free(p);
		return NULL;
	}
	sl_task *t = sl_xcalloc(1, sizeof *t);
	t->ops = &pixels_ops;
	t->impl = p;
	t->shape.vocab = c->levels + 1;
	t->shape.maxlen = c->size * c->size;
	snprintf(info, n, "task=pixels size=%d levels=%d class=%d vocab=%d seq=%d train=%d test=%d uniform_bits=%.4f dir=%s",
		 c->size, c->levels, c->cls, c->levels + 1, c->size * c->size, p->ntrain, p->ntest, log2((double)c->levels),
		 c->dir);
	return t;
}

const sl_task_kind sl_task_pixels = {
	.name = "pixels",
	.summary = "images as sequences: Fashion-MNIST shrunk and quantised, pixel by pixel (NLL per pixel)",
	.options = options,
	.cfg_size = sizeof(pixels_config),
	.create = create,
};
