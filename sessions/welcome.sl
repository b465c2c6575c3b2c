# The default session: the homework's small Pig-Latin set and a default
# Transformer called t, ready to train. Started by the README's quick start.
echo "seqlab: task piglatin (small, 3198 words) and run t (the default transformer) are ready."
echo "try:  train t 5 epochs   translate t shopping   attn t shopping layer=1   help"
task piglatin size=small
model t = transformer
