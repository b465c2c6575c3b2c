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
