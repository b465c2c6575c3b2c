# The default session: a Pig-Latin word set sampled from the system
# dictionary (3,198 words, the size of the homework's small file) and a
# default Transformer called t, ready to train. Started by the README's
# quick start.
task piglatin size=small
model t = transformer
echo "seqlab: task piglatin (3198 words sampled from /usr/share/dict/words) and run t (the default transformer) are ready."
echo "try:  train t 5 epochs   translate t shopping   attn t shopping layer=1   help"
