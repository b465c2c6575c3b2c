/* test_charlm.c - the character-level LM task and sampling, on a tiny text
 * made here: the vocabulary, nanoGPT's 90/10 split, windows shifted by one,
 * a uniform model's loss = ln(vocab), sampling deterministic for a seed,
 * temp -> 0 equal to top_k = 1 (greedy), and step-mode sampling equal to
 * re-running the model token for token. */
#include "seqlab/model.h"
#include "seqlab/task.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sl_task *make_task(const char *path, int ctx)
{
	const sl_task_kind *k = sl_task_kind_find("charlm");
	void *cfg = calloc(1, k->cfg_size);
	sl_optspec_defaults(k->options, cfg);
	char c[16];
	snprintf(c, sizeof c, "%d", ctx);
	sl_optspec_set(k->options, cfg, "file", path);
	sl_optspec_set(k->options, cfg, "ctx", c);
	sl_optspec_set(k->options, cfg, "batches", "3");
	char info[512];
	sl_task *t = k->create(cfg, 0, 7, info, sizeof info);
	free(cfg);
	return t;
}

int main(void)
{
	char path[] = "/tmp/seqlab-charlm-XXXXXX";
	int fd = mkstemp(path);
	const char *line = "the quick brown fox jumps over the lazy dog.\n";
	size_t len = 0;
	for (int i = 0; i < 40; i++)
		len += (size_t)write(fd, line, strlen(line));
	close(fd);

	sl_task *t = make_task(path, 8);
	TAP_OK(t != NULL, "task charlm reads a text file");
	/* the distinct bytes: 26 letters of the pangram less none, space, '.', '\n' */
	TAP_OK(t->shape.vocab == 26 + 3, "vocabulary: the text's 29 distinct characters (got %d)", t->shape.vocab);
	TAP_OK(t->shape.maxlen == 8, "positions: ctx");
	void *plan = t->ops->plan_new(t, 4, 1, 0, 1);
	sl_batch b;
	t->ops->batch(t, plan, 0, &b);
	int shifted = b.B == 4 && b.T == 8;
	for (int i = 0; i < 4; i++)
		for (int j = 0; j + 1 < 8; j++)
			shifted &= b.tgt[i * 8 + j] == b.inp[i * 8 + j + 1];
	TAP_OK(shifted, "a window's targets are its inputs moved on by one");
	sl_batch b2;
	t->ops->batch(t, plan, 0, &b2);
	TAP_OK(!memcmp(b.inp, b2.inp, 32 * sizeof(int32_t)), "batches drawn from (seed, epoch, index): repeatable");
	sl_batch_free(&b);
	sl_batch_free(&b2);
	t->ops->plan_free(plan);
	char dec[8];
	int32_t ids[8];
	int n = t->ops->encode(t, "dog.", ids, 8);
	t->ops->decode(t, ids, n, dec);
	TAP_OK(n == 4 && !strcmp(dec, "dog."), "encode and decode are inverse");
	TAP_OK(t->ops->encode(t, "Dog", ids, 8) < 0, "a character outside the vocabulary is refused: %s", sl_error());

	/* a uniform model: the read-out zeroed, every character equally likely */
	sl_model_shape shape = t->shape;
	sl_rng r;
	sl_rng_seed(&r, 3);
	const char *k[] = { "hidden", "layers" }, *v[] = { "16", "1" };
	sl_model *m = sl_model_new(sl_model_kind_find("mamba"), k, v, 2, &shape, &r);
	sl_tensor *ow = sl_params_find(m->ps, "out.w"), *ob = sl_params_find(m->ps, "out.b");
	memset(ow->data, 0, sl_tensor_numel(ow) * sizeof(float));
	memset(ob->data, 0, sl_tensor_numel(ob) * sizeof(float));
	sl_arena *a = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(a, NULL);
	sl_eval e = { 0 };
	t->ops->eval(t, m, tp, &e, NULL);
	TAP_OK(fabs(e.val_loss - log(29.0)) < 1e-5, "a uniform model's loss is ln(vocab) = %.6f (got %.6f)", log(29.0),
	       e.val_loss);
	sl_model_free(m);

	/* sampling with a trained-looking (random) model */
	sl_rng_seed(&r, 4);
	m = sl_model_new(sl_model_kind_find("mamba"), k, v, 2, &shape, &r);
	int32_t prompt[3] = { 1, 2, 3 }, s1[40], s2[40], s3[40];
	sl_rng g1, g2;
	sl_rng_seed(&g1, 9);
	sl_rng_seed(&g2, 9);
	int n1 = sl_model_sample(m, tp, prompt, 3, 40, 0.8f, 0, 29, 8, &g1, 0, NULL, NULL, s1);
	int n2 = sl_model_sample(m, tp, prompt, 3, 40, 0.8f, 0, 29, 8, &g2, 0, NULL, NULL, s2);
	TAP_OK(n1 == 40 && n2 == 40 && !memcmp(s1, s2, sizeof s1), "the same seed samples the same text");
	sl_rng_seed(&g2, 9);
	int n3 = sl_model_sample(m, tp, prompt, 3, 40, 0.8f, 0, 29, 1000, &g2, 1, NULL, NULL, s3);
	TAP_OK(n3 == 40 && !memcmp(s1, s3, sizeof s1), "step-mode sampling equals re-running the model, token for token");
	sl_rng_seed(&g1, 1);
	sl_rng_seed(&g2, 2);
	sl_model_sample(m, tp, prompt, 3, 40, 0.0f, 0, 29, 8, &g1, 0, NULL, NULL, s1);
	sl_model_sample(m, tp, prompt, 3, 40, 1.0f, 1, 29, 8, &g2, 0, NULL, NULL, s2);
	TAP_OK(!memcmp(s1, s2, sizeof s1), "temp=0 and top_k=1 both decode greedily, whatever the seed");
	sl_model_free(m);

	/* a model without a step mode samples by re-running */
	sl_rng_seed(&r, 5);
	const char *gk[] = { "hidden", "layers", "heads" }, *gv[] = { "16", "1", "2" };
	m = sl_model_new(sl_model_kind_find("gpt"), gk, gv, 3, &shape, &r);
	sl_rng_seed(&g1, 9);
	TAP_OK(sl_model_sample(m, tp, prompt, 3, 20, 0.8f, 5, 29, 8, &g1, 0, NULL, NULL, s1) == 20,
	       "gpt samples past its 8 positions by re-running the last 8");
	sl_model_free(m);
	sl_tape_free(tp);
	sl_arena_free(a);
	sl_task_ref(t);
	sl_task_unref(t);
	unlink(path);
	return tap_done();
}
