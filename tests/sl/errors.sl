# exit: 1
# errors: each failing command changes nothing, as the show after it proves.
set threads=2 seed=3
show settings
# unknown commands, with and without a suggestion
sett seed=4
show settings
frobnicate
show settings
# unknown options, with and without a suggestion
set thread=4
show settings
set seed=4 colour=red
show settings
# values out of range, not integers, empty, given twice
set threads=0
show settings
set threads=65
show settings
set seed=4 threads=abc
show settings
set seed=-1
set seed=18446744073709551616
set seed=1.5
set seed=0x10
set threads=" 4"
set seed=
set seed=4 seed=5
show settings
# nothing to set, and a word nobody takes
set
set seed=4 extra
show settings
quit now
# unterminated quotes: nothing of the command runs
set seed=4 threads="4
show settings
set seed='4
show settings
echo 'a' "b
show settings
# help and show
help nosuch
help hlep
show nosuch
show setings
show
show settings now
# source
source nosuch.sl
source
source a.sl b.sl
show settings
