# Seed 002's echo-state networks on reservoirpy's Mackey-Glass series: a
# fixed random reservoir, its read-out fitted in closed form by ridge
# regression (one training step is the whole fit), one step ahead.
# 1. reservoirpy's README figure: 100 units, rho 1.25, leak 0.3, ridge 1e-5,
#    2000 steps, the last 20 % tested, 100 warm-up steps: RMSE 0.0020
#    (reservoirs from seeds 0..4; the series' history from the task seed).
# 2. ESN(100, rho 1) + ridge 1e-8 on 1000 steps (leak 1, reservoirpy's
#    default): NRMSE (RMSE / variance) 0.0072.
# 3. Free running: the same reservoir fed its own output over the test part.
# 4. A 1,000-unit reservoir on 10,000 steps (the lead times the fit).
# 5. The read-out as a classifier on token tasks (one-hot inputs): Pig-Latin
#    as a prefix LM and associative recall -- where a reservoir fails.
# Run:  seqlab -f sessions/esn-mackey-glass.sl > esn.out      (about 20 seconds)
# Results and commentary: sessions/zoo.md.
set seed=0 threads=2
task series mackey-glass length=2000 test=0.2 warmup=100
model e0 = esn units=100 rho=1.25 leak=0.3 ridge=1e-5 seed=0
model e1 = esn units=100 rho=1.25 leak=0.3 ridge=1e-5 seed=1
model e2 = esn units=100 rho=1.25 leak=0.3 ridge=1e-5 seed=2
model e3 = esn units=100 rho=1.25 leak=0.3 ridge=1e-5 seed=3
model e4 = esn units=100 rho=1.25 leak=0.3 ridge=1e-5 seed=4
info e0
train e0 1 steps
train e1 1 steps
train e2 1 steps
train e3 1 steps
train e4 1 steps
task series mackey-glass length=1000 test=0.2 warmup=100
model r0 = esn units=100 rho=1 leak=1 ridge=1e-8 seed=0
model r1 = esn units=100 rho=1 leak=1 ridge=1e-8 seed=1
model r2 = esn units=100 rho=1 leak=1 ridge=1e-8 seed=2
model r3 = esn units=100 rho=1 leak=1 ridge=1e-8 seed=3
model r4 = esn units=100 rho=1 leak=1 ridge=1e-8 seed=4
train r0 1 steps
train r1 1 steps
train r2 1 steps
train r3 1 steps
train r4 1 steps
task series mackey-glass length=2000 test=0.2 warmup=100 mode=generative
model g0 = esn units=100 rho=1.25 leak=0.3 ridge=1e-5 seed=0
model g1 = esn units=500 rho=1.25 leak=0.3 ridge=1e-5 seed=0
train g0 1 steps
train g1 1 steps
task series mackey-glass length=10000 test=0.2 warmup=100
model big = esn units=1000 rho=1.25 leak=0.3 ridge=1e-5 seed=0
train big 1 steps
task piglatin size=small
model pl = esn units=500 rho=0.9 leak=1 ridge=1e-3 seed=0
train pl 1 steps
task recall K=16 M=1 L=64 tau=1 embed=learned batches=20
model ar = esn units=500 rho=0.9 leak=1 ridge=1e-3 seed=0
train ar 1 steps
runs
