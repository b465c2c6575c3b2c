/* sched.h - learning-rate schedules.
 *
 * The lr of update number `step` (0-based: the optimizer's step count before
 * the update) is
 *
 *   lr(step) = ramp(step) * base(step),  ramp = min(1, (step + 1) / warmup)
 *
 * (ramp = 1 without warmup), where base(step) is, by kind:
 *   constant  lr
 *   cosine    lr during warmup; then min_lr + (lr - min_lr)(1 + cos(pi p))/2
 *             with p = (step - warmup) / (total - warmup), clamped to [0, 1]:
 *             lr at the end of warmup, min_lr from step `total` on
 *   step      lr * gamma^floor(step / step_size)
 *   plateau   the current lr `cur`, which sl_sched_observe() lowers:
 *             torch.optim.lr_scheduler.ReduceLROnPlateau with mode "min",
 *             threshold_mode "rel": a metric m improves on `best` when
 *             m < best (1 - threshold); after more than `patience` epochs
 *             without improvement, cur = max(cur factor, min_lr) (changed
 *             only if that lowers it by more than 1e-8), then `cooldown`
 *             epochs during which bad epochs are not counted.
 *
 * The struct is plain data: a checkpoint saves it whole (best, bad,
 * cooldown_left, cur and epochs are the state). */
#ifndef SEQLAB_SCHED_H
#define SEQLAB_SCHED_H

#include <stdint.h>

typedef enum sl_sched_kind {
	SL_SCHED_CONSTANT,
	SL_SCHED_COSINE,
	SL_SCHED_STEP,
	SL_SCHED_PLATEAU,
	SL_SCHED_KIND_COUNT
} sl_sched_kind;

typedef struct sl_sched {
	int kind;           /* sl_sched_kind */
	double lr;          /* base (peak) learning rate */
	int64_t warmup;     /* linear warmup steps; 0 = none */
	double min_lr;      /* cosine: final lr (default 0); plateau: floor (default 1e-6) */
	int64_t total;      /* cosine: total steps, warmup included; > warmup */
	int64_t step_size;  /* step: steps between decays; >= 1 */
	double gamma;       /* step: decay factor (default 0.1) */
	double factor;      /* plateau: lr multiplier on a plateau (default 0.5) */
	int patience;       /* plateau: bad epochs tolerated (default 5) */
	double threshold;   /* plateau: relative improvement needed (default 1e-3) */
	int cooldown;       /* plateau: epochs after a cut with no counting (default 0) */

	/* plateau state */
	double best;        /* best metric so far (+inf before the first) */
	int bad;            /* epochs since the last improvement */
	int cooldown_left;
	double cur;         /* current lr */
	int64_t epochs;     /* metrics observed */
} sl_sched;

/* A schedule of `kind` with base lr and the defaults above (warmup 0,
 * cosine total 0 — set it —, step_size 0 — set it —, plateau state fresh). */
void sl_sched_init(sl_sched *s, int kind, double lr);
/* Checks the settings: SL_OK, or SL_ERR with the error set. */
int sl_sched_check(const sl_sched *s);
/* The lr for update number step (>= 0). */
double sl_sched_lr(const sl_sched *s, int64_t step);
/* Feeds one epoch's metric (lower is better) to a plateau schedule; returns
 * 1 if the lr was lowered, else 0. Other kinds ignore it and return 0. */
int sl_sched_observe(sl_sched *s, double metric);
/* Forgets the plateau state: best = +inf, bad = 0, cur = lr. */
void sl_sched_reset(sl_sched *s);

/* "constant", "cosine", "step", "plateau"; the kind for a name, or -1. */
const char *sl_sched_kind_name(int kind);
int sl_sched_kind_from_name(const char *name);

#endif
