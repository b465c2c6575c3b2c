# exit: 1
# The series task and the echo-state network: what they print, and their
# errors (each one line, changing nothing).
set threads=1 seed=1
task series
task series lorenz
task series mackey-glass length=5
task series mackey-glass test=0
task series mackey-glass length=200 warmup=200
task series mackey-glass a=1e6 b=-1e6
task series mackey-glass length=500 tau=17 test=0.2 warmup=50 mode=generative seed=3
model g = gpt hidden=16 layers=1
model e = esn units=0
model e = esn rho=0
model e = esn rho=-1
model e = esn leak=0
model e = esn density=0
model e = esn units=65536
model e = esn units=40 rho=0.9 leak=0.5 ridge=1e-6 seed=2
info e
runs
help model esn
help task series
