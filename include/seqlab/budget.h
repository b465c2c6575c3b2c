/* budget.h - memory estimates made before allocating, so that a request too
 * large for the machine is refused with one line ("needs 40 GB; this machine
 * has 24 GB") instead of aborting the process and its unsaved runs.
 *
 * Each option of a task or a model passes its own range check; their product
 * may not. The estimates are upper bounds of the order of magnitude (within
 * a small factor), from the options alone: nothing is allocated to make
 * them. */
#ifndef SEQLAB_BUDGET_H
#define SEQLAB_BUDGET_H

#include "seqlab/model.h"
#include "seqlab/recall.h"
#include "seqlab/task.h"

#include <stdint.h>

/* The memory seqlab may use, in bytes: the machine's RAM, or less under a
 * cgroup memory limit or an address-space rlimit; the environment variable
 * SEQLAB_MEMORY (bytes, or with a suffix K, M, G, T: powers of 1000)
 * overrides it. */
int64_t sl_budget_limit(void);

/* SL_OK if need more bytes fit beside what the process already uses; else
 * SL_ERR with the error "WHAT needs 40 GB; this machine has 24 GB[ (this
 * session already uses 2.1 GB)][; HINT]" (hint may be NULL). */
int sl_budget_check(int64_t need, const char *what, const char *hint);

/* "40 GB", "1.5 GB", "600 MB", "12 kB": bytes in decimal units, into buf. */
const char *sl_budget_format(int64_t bytes, char *buf, size_t n);

/* A model's parameter count, from its kind's options (cfg: a filled config
 * of the kind) and the task's shape. */
int64_t sl_budget_params(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape);
/* The bytes one training step of batch B and sequence length T needs
 * (activations kept for the backward pass, their gradients, the logits);
 * an evaluation of B sequences needs about half. */
int64_t sl_budget_step(const sl_model_kind *kind, const void *cfg, const sl_model_shape *shape, int64_t B,
		       int64_t T);
/* The bytes a run holds besides its steps: parameters, gradients, optimizer
 * moments and the copy of the last good state. */
int64_t sl_budget_run(int64_t params);

/* The length of the sequences a task trains on (a generated task's
 * training length, else its longest sequence) and the sequences its
 * evaluation scores at once. */
int64_t sl_budget_task_len(const sl_task *t);
int64_t sl_budget_eval_batch(const sl_task *t);

/* Checks that a model of kind with options keys=vals (n of them; bad ones
 * are ignored here: the model's own parser reports them) fits on task:
 * its run, and a training step at batch 1. SL_OK or SL_ERR as
 * sl_budget_check(). */
int sl_budget_check_model(const sl_model_kind *kind, const char *const *keys, const char *const *vals, int n,
			  const sl_task *task);
/* Checks that training m at batch B on task, and evaluating it, fit; that
 * evaluating it fits. */
int sl_budget_check_train(const sl_model *m, const sl_task *task, int B);
int sl_budget_check_eval(const sl_model *m, const sl_task *task);

#endif
