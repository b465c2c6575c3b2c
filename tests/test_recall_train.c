/* test_recall_train.c - a tiny decoder-only Transformer (2 attention layers,
 * no MLP) learns the induction-head task (recall M=1) on short sequences in
 * seconds, and the accuracy-vs-length evaluation sees it; training is
 * deterministic. */
#include "seqlab/recall.h"
#include "seqlab/run.h"
#include "tap.h"

#include <string.h>

static sl_task *induction_task(void)
{
	sl_recall_config c = { .K = 8, .d = 8, .M = 1, .L = 16, .tau = 1, .embed = SL_RECALL_LEARNED };
	sl_gen_spec sp = { .kind = &sl_recall_kind, .cfg = &c, .cfg_size = sizeof c, .vocab = 8, .len = 16,
			   .max_len = 48, .batches = 50, .test = 256, .seed = 1 };
	sl_task *t = sl_gen_task_new(&sp);
	sl_task_ref(t);
	return t;
}

static sl_run *tiny_gpt(sl_task *task, sl_pool *pool, uint64_t seed, int steps)
{
	const char *keys[] = { "hidden", "heads", "layers", "mlp", "pe" };
	const char *vals[] = { "32", "2", "2", "0", "rope" };
	sl_rng root;
	sl_rng_seed(&root, seed);
	sl_rng init = sl_rng_split_str(&root, "init");
	sl_model *m = sl_model_new(sl_model_kind_find("gpt"), keys, vals, 5, &task->shape, &init);
	if (!m) {
		printf("# %s\n", sl_error());
		return NULL;
	}
	sl_optim_config oc = sl_optim_defaults(SL_OPTIM_ADAMW);
	oc.lr = 1e-2f;
	oc.clip = 1;
	sl_sched s;
	sl_sched_init(&s, SL_SCHED_COSINE, oc.lr);
	s.warmup = 50;
	s.total = steps > s.warmup ? steps : s.warmup + 1;
	return sl_run_new("ih", m, task, &oc, &s, 64, 1, seed, pool);
}

int main(void)
{
	sl_task *task = induction_task();
	sl_pool *pool = sl_pool_new(2);
	int steps = 1500, reached = -1;
	double t0 = sl_now();
	sl_run *r = tiny_gpt(task, pool, 1, steps);
	TAP_OK(r != NULL, "a gpt layers=2 mlp=0 run on recall K=8 M=1 L=16");
	if (!r)
		return tap_done();
	sl_eval e = { 0 };
	int end;
	while (r->step < steps) {
		if (sl_run_step(r, pool, &end) != SL_OK) {
			printf("# step %lld: %s\n", (long long)r->step, sl_error());
			break;
		}
		if (r->step % 100 == 0) {
			sl_run_eval(r, pool, &e);
			printf("# step %lld loss %.4f val_loss %.4f val_acc %.4f (%.1f s)\n", (long long)r->step,
			       e.train_loss, e.val_loss, e.val_acc, sl_now() - t0);
			if (e.val_acc >= 0.99) {
				reached = (int)r->step;
				break;
			}
		}
	}
	TAP_OK(e.val_acc >= 0.95, "induction heads solved: test accuracy %.3f after %lld steps (%.1f s; chance 1/7)",
	       e.val_acc, (long long)r->step, sl_now() - t0);
	double acc, loss;
	int ok = sl_gen_task_eval_length(task, r->model, r->tape, 16, 256, &acc, &loss) == SL_OK;
	TAP_OK(ok && acc >= 0.9, "accuracy at the training length on fresh sequences: %.3f", acc);
	(void)reached;
	sl_run_free(r);

	/* the same seed, the same losses, bit for bit */
	float loss1[30];
	int same = 1;
	for (int k = 0; k < 2; k++) {
		sl_run *q = tiny_gpt(task, pool, 7, 30);
		for (int i = 0; i < 30 && q; i++)
			sl_run_step(q, pool, &end);
		if (!q || q->nsteps != 30) {
			same = 0;
		} else if (k == 0) {
			memcpy(loss1, q->loss, sizeof loss1);
		} else {
			same = !memcmp(loss1, q->loss, sizeof loss1);
		}
		sl_run_free(q);
	}
	TAP_OK(same, "two runs from the same seed have the same 30 losses bit for bit");
	sl_pool_free(pool);
	sl_task_unref(task);
	return tap_done();
}
