# exit: 1
# parse: words, quotes, escapes, comments, ';', continuation, options, '='.
set threads=2 seed=1
show settings
# comments: a whole line, after a command; '#' inside a word is a character
echo one # a comment
echo a#b c
  # an indented comment
# ';' ends a command; empty commands are skipped

echo one; echo two;; ; echo three
;
	echo   tabs	and   spaces   
# single quotes take everything literally
echo 'a   b' 'it''s' '\n' '"' '#x' ';'
# double quotes know \" \\ \n \t; any other backslash stays
echo "a   b" "say \"hi\"" "back\\slash" "x\qy" "semi;colon" "#hash" "it's"
echo "line one\nline two"
echo "tab[\t]"
# outside quotes a backslash takes the next character literally
echo a\ b \; \#c \\ \" \'
# quoted and plain parts join into one word
echo ab"cd"'ef'gh
echo [""] [''] x
# a backslash at the end of a line continues the command
echo one \
  two \
	three
set \
  seed=5
show settings
echo "abc\
def"
echo ab\
cd
# a comment ending in a backslash does not continue \
echo after the comment
# options: key=value, the value may be quoted
set seed="6"
show settings
set seed='7' threads="1"
show settings
set seed=""8
show settings
# an option needs an unquoted key: these are plain words
set "seed=9"
set 'seed'=9
set se"ed"=9
show settings
# a lone '=' is a plain word, and so is '=x'
echo t = transformer
echo =x x= x=y
set =
set =9
show settings
echo done
