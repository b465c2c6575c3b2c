# exit: 1
# views chosen by what each block's mixer offers: attention grids of a gpt
# and a hybrid, Mamba's views of a hybrid's M block; the errors name what a
# run's blocks do show.
set threads=1 seed=2
task piglatin size=100 seed=1
model g = gpt hidden=8 heads=2 layers=2 mlp=0
attn g ab layer=1 head=1
model h = hybrid pattern=MA hidden=8 heads=2 state=2 expand=1
attn h ab
ssm h ab show=delta
ssm h ab layer=0 show=B
model m = mamba hidden=8 layers=1 state=2 expand=1
info m
info g
ssm g ab
attn m ab
attn h ab layer=0
ssm h ab layer=5
attn g ab head=x
# recall: a test sequence by number (q, k, v marked) or tokens; text: its characters
task recall K=8 d=8 L=16 test=4 seed=1
model r = gpt hidden=8 layers=1 heads=2 mlp=0
attn r 2
attn r 1,2,3,1
attn r 99
attn r 1,x
task charlm ctx=16 batches=2
model c = gpt hidden=8 layers=1 heads=1 mlp=0
attn c "the license"
model cm = mamba hidden=8 layers=1 state=2 expand=1
ssm cm "the" show=delta
# gradient flow: |d loss / d x_t| for the loss at the last scored position
task recall K=8 d=8 L=8 test=2 seed=1
model e = elman hidden=8 layers=1
model ls = lstm hidden=8 layers=1
gradflow e 0
gradflow ls 1,2,3,1
model tf = transformer hidden=8 heads=2 enc=1 dec=1
gradflow tf 0
gradflow e 7
# per layer, the state's Jacobian across time, a chosen loss position, the default input
model e2 = elman hidden=8 layers=2
gradflow e2
gradflow ls 0 at=3
model gm = hybrid pattern=MA hidden=8 state=2 expand=1 heads=2
gradflow gm 1
gradflow nosuch 0
gradflow e 0 at=8
gradflow e 0 at=x
gradflow e 0 bogus=1
gradflow
# watched (tests/workbench.test watches it while its run trains)
watch gradflow e 1,2,3 every=1
unwatch
watch plot e
# the encoder-decoder on Pig-Latin: the source's and the decoder input's gradients
task piglatin size=100 seed=1
model ed = transformer hidden=8 heads=2 enc=1 dec=1
gradflow ed team
gradflow ed team at=2
gradflow ed team at=40
