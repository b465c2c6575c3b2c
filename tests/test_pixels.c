/* test_pixels.c - task pixels on IDX files made here (gzip'd, as Debian's
 * dataset-fashion-mnist ships them): shrinking and quantising a known
 * image, the class filter, sequences of a start token then the pixels, a
 * uniform model's loss = ln(levels + 1), the missing files' error naming the
 * package, and sampling an image in step mode. */
#include "seqlab/model.h"
#include "seqlab/task.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void write_idx(const char *dir, const char *prefix, int n)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
	gzFile f = gzopen(p, "wb");
	unsigned char h[16] = { 0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, 28, 0, 0, 0, 28 };
	gzwrite(f, h, 16);
	for (int i = 0; i < n; i++) {
		unsigned char img[28 * 28];
		/* image i: left half black, right half white (i even), or all grey 128 */
		for (int y = 0; y < 28; y++)
			for (int x = 0; x < 28; x++)
				img[y * 28 + x] = i % 2 ? 128 : x < 14 ? 0 : 255;
		gzwrite(f, img, sizeof img);
	}
	gzclose(f);
	snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
	f = gzopen(p, "wb");
	unsigned char hl[8] = { 0, 0, 8, 1, 0, 0, 0, (unsigned char)n };
	gzwrite(f, hl, 8);
	for (int i = 0; i < n; i++) {
		unsigned char l = (unsigned char)(i % 2 ? 3 : 5);
		gzwrite(f, &l, 1);
	}
	gzclose(f);
}

static sl_task *make(const char *dir, const char *cls)
{
	const sl_task_kind *k = sl_task_kind_find("pixels");
	void *cfg = calloc(1, k->cfg_size);
	sl_optspec_defaults(k->options, cfg);
	sl_optspec_set(k->options, cfg, "dir", dir);
	sl_optspec_set(k->options, cfg, "size", "4");
	sl_optspec_set(k->options, cfg, "levels", "4");
	sl_optspec_set(k->options, cfg, "class", cls);
	sl_optspec_set(k->options, cfg, "test", "3");
	char info[512];
	sl_task *t = k->create(cfg, 0, 1, info, sizeof info);
	free(cfg);
	return t;
}

int main(void)
{
	char dir[] = "/tmp/seqlab-pixels-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	write_idx(dir, "train", 6);
	write_idx(dir, "t10k", 4);
	sl_task *t = make(dir, "-1");
	TAP_OK(t && t->shape.vocab == 5 && t->shape.maxlen == 16, "4 levels and a start token; 4 x 4 = 16 pixels");
	void *plan = t->ops->plan_new(t, 8, 0, 0, 1);
	sl_batch b;
	t->ops->batch(t, plan, 0, &b);
	int start = 1, halves = 1, greys = 1;
	for (int i = 0; i < b.B; i++) {
		const int32_t *x = b.inp + (size_t)i * 16, *y = b.tgt + (size_t)i * 16;
		start &= x[0] == 4;
		for (int j = 0; j + 1 < 16; j++)
			start &= x[j + 1] == y[j];
		int grey = y[0] == 2; /* 128/256 * 4 = 2 */
		for (int j = 0; j < 16; j++) {
			if (grey)
				greys &= y[j] == 2;
			else
				halves &= y[j] == (j % 4 < 2 ? 0 : 3);
		}
	}
	TAP_OK(start, "a start token, then each pixel predicts the next");
	TAP_OK(halves && greys, "shrunk by area and quantised: black/white halves to 0/3, grey 128 to 2");
	sl_batch_free(&b);
	t->ops->plan_free(plan);
	sl_task *c5 = make(dir, "5"), *c9 = make(dir, "9");
	TAP_OK(c5 && !c9 && strstr(sl_error(), "no images"), "class=5 keeps its images; class=9 has none: %s",
	       sl_error());
	sl_task_ref(c5);
	sl_task_unref(c5);
	TAP_OK(!make("/nonexistent", "-1") && strstr(sl_error(), "dataset-fashion-mnist"),
	       "missing files name the package: %s", sl_error());

	sl_model_shape shape = t->shape;
	sl_rng r;
	sl_rng_seed(&r, 3);
	const char *k[] = { "hidden", "layers" }, *v[] = { "8", "1" };
	sl_model *m = sl_model_new(sl_model_kind_find("mamba"), k, v, 2, &shape, &r);
	sl_tensor *ow = sl_params_find(m->ps, "out.w"), *ob = sl_params_find(m->ps, "out.b");
	memset(ow->data, 0, sl_tensor_numel(ow) * sizeof(float));
	memset(ob->data, 0, sl_tensor_numel(ob) * sizeof(float));
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	sl_eval e = { 0 };
	t->ops->eval(t, m, tp, &e, NULL);
	TAP_OK(fabs(e.val_loss - log(5.0)) < 1e-5 && e.words == 3 * 16,
	       "a uniform model's loss per pixel is ln(5) = %.6f (got %.6f over %d pixels)", log(5.0), e.val_loss, e.words);
	int side, levels;
	int32_t st = t->ops->image(t, &side, &levels), img[16];
	sl_rng g;
	sl_rng_seed(&g, 1);
	TAP_OK(sl_model_sample(m, tp, &st, 1, 16, 0.8f, 0, 5, 16, &g, 0, NULL, NULL, img) == 16 && side == 4 &&
	       levels == 4, "an image is sampled pixel by pixel after the start token");
	sl_model_free(m);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_task_ref(t);
	sl_task_unref(t);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? tap_done() : 1;
}
