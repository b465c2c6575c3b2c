/* test_mlp.c - the pieces fit: a small MLP (linear, tanh, cross-entropy on the
 * tape; parameters in sl_params; AdamW with a warmup+cosine schedule) learns
 * two interleaved spirals, which a linear model cannot (about 0.5 accuracy). */
#include "tap.h"

#include "seqlab/ops.h"
#include "seqlab/optim.h"
#include "seqlab/params.h"
#include "seqlab/sched.h"

#include <string.h>

#define HIDDEN 64
#define PER_CLASS 200
#define STEPS 1000

/* Two spirals of 2 turns with radius 0.1..1, arm c rotated by c*pi, and
 * Gaussian noise of std 0.04 on each coordinate: x (2n, 2), y (2n). */
static void spirals(sl_rng *r, int n, float *x, int32_t *y)
{
	for (int i = 0; i < 2 * n; i++) {
		int c = i % 2;   /* interleaved classes */
		double t = sl_rng_double(r);
		double rad = 0.1 + 0.9 * t, th = 4.0 * M_PI * t + c * M_PI;
		x[2 * i] = (float)(rad * cos(th) + 0.04 * sl_rng_normal(r));
		x[2 * i + 1] = (float)(rad * sin(th) + 0.04 * sl_rng_normal(r));
		y[i] = c;
	}
}

typedef struct mlp {
	sl_params *ps;
	sl_tensor *w1, *b1, *w2, *b2, *w3, *b3;
} mlp;

static void mlp_init(mlp *m, int hidden, uint64_t seed)
{
	m->ps = sl_params_new();
	int s1[2] = { hidden, 2 }, s2[2] = { hidden, hidden }, s3[2] = { 2, hidden }, sh[1] = { hidden },
	    so[1] = { 2 };
	m->w1 = sl_params_add(m->ps, "l1.w", 2, s1, 0);
	m->b1 = sl_params_add(m->ps, "l1.b", 1, sh, SL_PARAM_NO_DECAY);
	m->w2 = sl_params_add(m->ps, "l2.w", 2, s2, 0);
	m->b2 = sl_params_add(m->ps, "l2.b", 1, sh, SL_PARAM_NO_DECAY);
	m->w3 = sl_params_add(m->ps, "l3.w", 2, s3, 0);
	m->b3 = sl_params_add(m->ps, "l3.b", 1, so, SL_PARAM_NO_DECAY);
	sl_params_alloc(m->ps);
	sl_rng root, r;
	sl_rng_seed(&root, seed);
	r = sl_rng_split_str(&root, "init");
	/* torch.nn.Linear's default: U(-1/sqrt(in), 1/sqrt(in)) */
	sl_tensor *w[3] = { m->w1, m->w2, m->w3 }, *b[3] = { m->b1, m->b2, m->b3 };
	for (int l = 0; l < 3; l++) {
		float k = 1.0f / sqrtf((float)w[l]->shape[1]);
		sl_init_uniform(w[l], &r, -k, k);
		sl_init_uniform(b[l], &r, -k, k);
	}
}

/* logits (N, 2) of the points x (N, 2) */
static sl_tensor *mlp_forward(mlp *m, sl_tape *tp, const float *x, int n)
{
	int shape[2] = { n, 2 };
	sl_tensor *in = sl_tape_tensor(tp, 2, shape);
	memcpy(in->data, x, (size_t)n * 2 * sizeof(float));
	sl_tensor *h = sl_tanh(tp, sl_linear(tp, in, m->w1, m->b1));
	h = sl_tanh(tp, sl_linear(tp, h, m->w2, m->b2));
	return sl_linear(tp, h, m->w3, m->b3);
}

static double accuracy(mlp *m, sl_tape *tp, const float *x, const int32_t *y, int n)
{
	int saved = tp->grad_enabled, right = 0;
	tp->grad_enabled = 0;
	sl_tensor *logits = mlp_forward(m, tp, x, n);
	for (int i = 0; i < n; i++)
		right += (logits->data[2 * i + 1] > logits->data[2 * i]) == (y[i] == 1);
	sl_tape_reset(tp);
	tp->grad_enabled = saved;
	return (double)right / n;
}

int main(void)
{
	enum { N = 2 * PER_CLASS };
	static float xtr[2 * N], xte[2 * N];
	static int32_t ytr[N], yte[N];
	sl_rng root, dtr, dte;
	sl_rng_seed(&root, 2024);
	dtr = sl_rng_split_str(&root, "train");
	dte = sl_rng_split_str(&root, "test");
	spirals(&dtr, PER_CLASS, xtr, ytr);
	spirals(&dte, PER_CLASS, xte, yte);

	mlp m;
	mlp_init(&m, HIDDEN, 1);
	sl_arena *arena = sl_arena_new(0);
	sl_tape *tp = sl_tape_new(arena, NULL);
	sl_optim_config cfg = sl_optim_defaults(SL_OPTIM_ADAMW);
	cfg.lr = 0.01f;
	cfg.clip = 1.0f;
	sl_optim *opt = sl_optim_new(&cfg, m.ps, NULL);
	sl_sched sch;
	sl_sched_init(&sch, SL_SCHED_COSINE, 0.01);
	sch.warmup = 50;
	sch.total = STEPS;
	sch.min_lr = 1e-4;
	TAP_OK(opt && sl_sched_check(&sch) == SL_OK, "optimizer and schedule configured");

	double t0 = sl_now(), first = 0.0, last = 0.0;
	int ok = 1;
	for (int step = 0; step < STEPS; step++) {
		opt->lr = (float)sl_sched_lr(&sch, opt->step);
		sl_tensor *loss = sl_cross_entropy(tp, mlp_forward(&m, tp, xtr, N), ytr, -1, NULL);
		if (step == 0)
			first = loss->data[0];
		last = loss->data[0];
		ok &= sl_tape_backward(tp, loss) == SL_OK;
		ok &= sl_optim_step(opt) == 1;
		sl_tape_reset(tp);
	}
	double secs = sl_now() - t0;
	TAP_OK(ok && opt->step == STEPS, "%d full-batch steps ran", STEPS);
	TAP_OK(first > 0.6 && first < 0.8, "initial loss %.4f near ln 2", first);
	TAP_OK(last < 0.1, "final train loss %.4f < 0.1", last);
	TAP_NEAR(opt->lr, 1e-4, 1e-6, "lr decayed to near min_lr");
	double acc_tr = accuracy(&m, tp, xtr, ytr, N), acc_te = accuracy(&m, tp, xte, yte, N);
	TAP_OK(acc_tr >= 0.97, "train accuracy %.4f >= 0.97", acc_tr);
	TAP_OK(acc_te >= 0.93, "test accuracy %.4f >= 0.93", acc_te);
	tap_diag("%.2f s, %zu parameters, last grad norm %.4g", secs, sl_params_count(m.ps),
		 (double)opt->grad_norm);

	/* the threshold is real: a linear model stays near chance */
	sl_params *lin = sl_params_new();
	int sw[2] = { 2, 2 }, sb[1] = { 2 };
	sl_tensor *lw = sl_params_add(lin, "w", 2, sw, 0), *lb = sl_params_add(lin, "b", 1, sb, SL_PARAM_NO_DECAY);
	sl_params_alloc(lin);
	sl_init_uniform(lw, &dtr, -0.5f, 0.5f);
	cfg.lr = 0.05f;
	sl_optim *lopt = sl_optim_new(&cfg, lin, NULL);
	int right = 0, shape[2] = { N, 2 };
	for (int step = 0; step <= 300; step++) {
		sl_tensor *in = sl_tape_tensor(tp, 2, shape);
		memcpy(in->data, xtr, sizeof xtr);
		sl_tensor *logits = sl_linear(tp, in, lw, lb);
		if (step == 300) {
			for (int i = 0; i < N; i++)
				right += (logits->data[2 * i + 1] > logits->data[2 * i]) == (ytr[i] == 1);
			sl_tape_reset(tp);
			break;
		}
		sl_tape_backward(tp, sl_cross_entropy(tp, logits, ytr, -1, NULL));
		sl_optim_step(lopt);
		sl_tape_reset(tp);
	}
	TAP_OK((double)right / N < 0.75, "a linear model reaches only %.4f", (double)right / N);
	sl_optim_free(lopt);
	sl_params_free(lin);

	sl_optim_free(opt);
	sl_tape_free(tp);
	sl_arena_free(arena);
	sl_params_free(m.ps);
	return tap_done();
}
