/* pl_train.c - train a Pig-Latin model from the command line and print the
 * validation curve against wall time: the tool behind the accuracy-vs-time
 * figures in bench/RESULTS.md.
 *
 *   bench/pl_train [-p small|large] [-t SECONDS] [-j THREADS] [-b BATCH]
 *                  [-l LR] [-s SCHED] [-w WARMUP] [-e EPOCHS] [-S SEED] [key=value model options...]
 */
#include "seqlab/piglatin.h"
#include "seqlab/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *preset = "large", *sched = "cosine";
	double seconds = 60, lr = 3e-3;
	int threads = 2, bsz = 64, warmup = 100, epochs = 30, c;
	uint64_t seed = 0;
	while ((c = getopt(argc, argv, "p:t:j:b:l:s:w:e:S:")) != -1) {
		switch (c) {
		case 'p': preset = optarg; break;
		case 't': seconds = atof(optarg); break;
		case 'j': threads = atoi(optarg); break;
		case 'b': bsz = atoi(optarg); break;
		case 'l': lr = atof(optarg); break;
		case 's': sched = optarg; break;
		case 'w': warmup = atoi(optarg); break;
		case 'e': epochs = atoi(optarg); break;
		case 'S': seed = strtoull(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	int n = strcmp(preset, "small") == 0 ? SL_PL_SMALL : SL_PL_LARGE;
	sl_pl_data *d = sl_pl_from_words("/usr/share/dict/words", 0, n, seed, 0);
	if (!d) {
		fprintf(stderr, "error: %s\n", sl_error());
		return 1;
	}
	const char *keys[32], *vals[32];
	int nk = 0;
	char *kv[32];
	for (int i = optind; i < argc && nk < 32; i++) {
		kv[nk] = strdup(argv[i]);
		char *eq = strchr(kv[nk], '=');
		if (!eq)
			return 2;
		*eq = 0;
		keys[nk] = kv[nk];
		vals[nk] = eq + 1;
		nk++;
	}
	sl_rng root;
	sl_rng_seed(&root, seed);
	sl_rng init = sl_rng_split_str(&root, "init");
	sl_task *task = sl_pl_task_new(d, preset);
	sl_task_ref(task);
	sl_model *m = sl_model_new(sl_model_kind_find("transformer"), keys, vals, nk, &task->shape, &init);
	if (!m) {
		fprintf(stderr, "error: %s\n", sl_error());
		return 1;
	}
	sl_pool *pool = sl_pool_new(threads);
	sl_optim_config oc = sl_optim_defaults(SL_OPTIM_ADAMW);
	oc.lr = (float)lr;
	oc.clip = 1.0f;
	sl_sched s;
	sl_sched_init(&s, sl_sched_kind_from_name(sched), lr);
	s.warmup = warmup;
	sl_pl_plan *p = sl_pl_plan_new(d, 0, bsz, seed, 0, 1);
	s.total = (int64_t)epochs * p->nbatches;
	sl_pl_plan_free(p);
	sl_run *r = sl_run_new("bench", m, task, &oc, &s, bsz, 1, seed, pool);
	if (!r) {
		fprintf(stderr, "error: %s\n", sl_error());
		return 1;
	}
	printf("params=%zu train=%d val=%d batches_per_epoch=%d\n", sl_params_count(m->ps), d->ntrain, d->nval,
	       sl_run_epoch_batches(r, bsz));
	double t0 = sl_now();
	while (r->seconds < seconds && r->epoch < epochs) {
		int end;
		if (sl_run_step(r, pool, &end) != SL_OK)
			fprintf(stderr, "warning: %s\n", sl_error());
		if (end) {
			sl_eval e;
			sl_run_eval(r, pool, &e);
			printf("epoch=%lld step=%lld train_s=%.1f wall_s=%.1f words_s=%.0f loss=%.4f val_loss=%.4f val_acc=%.4f cer=%.4f\n",
			       (long long)e.epoch, (long long)e.step, e.seconds, sl_now() - t0,
			       r->words_trained / e.seconds, e.train_loss, e.val_loss, e.val_acc, e.cer);
			fflush(stdout);
		}
	}
	sl_run_free(r);
	sl_pool_free(pool);
	sl_task_unref(task);
	return 0;
}
