# exit: 1
# Pig-Latin with apostrophes (issue 17, item 12). Off by default: words with
# ' are left out and the vocabulary has 29 tokens. apostrophes=on keeps them,
# ' becomes token 29 of 30, and the rule splits on it, keeping it:
# won't -> onway'tay, o'clock -> oway'ockclay, rock'n'roll -> ockray'nay'ollray.
set threads=1 seed=0
# 1. a word list: 24 words of a-z and '-' (those with ' and a capitalised
#    one skipped)
task piglatin words=piglatin-words.txt size=all
# 2. the same list with apostrophes: 35 words, 10 with a ' ('tis keeps its
#    leading one, students' loses its trailing one, Aaron's stays out)
task piglatin words=piglatin-words.txt size=all apostrophes=on
# 3. a pair file: 13 pairs without ', 20 with; list=on shows the pairs whose
#    target is not the rule's (ain't, don't: the file is wrong there;
#    rock'n'roll -> ockray'nay'ollray agrees)
task piglatin file=piglatin-pairs.txt list=on
task piglatin file=piglatin-pairs.txt list=on apostrophes=yes
# 4. any text: ' inside a word kept, quotes around words dropped
task piglatin corpus=piglatin-corpus.txt size=all apostrophes=on seed=1
# 5. a model on the 30-token task translates words with '; the expected
#    column is the rule's
task piglatin words=piglatin-words.txt size=all apostrophes=on
model t = transformer hidden=8 heads=1 enc=1 dec=1 mlp=1
info t
translate t "won't" "o'clock" team
# the task's description keeps apostrophes=on through save and load
save pl
drop t
load pl
runs
translate t "won't"
show journal
# 6. errors: ' without apostrophes=on, outside the vocabulary, a bad value,
#    an unquoted ' (the command language's quote)
task piglatin words=piglatin-words.txt size=all
model u = transformer hidden=8 heads=1 enc=1 dec=1 mlp=1
translate u "won't"
translate t "won't!"
task piglatin apostrophes=maybe
translate t won't
