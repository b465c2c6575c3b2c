# settings: set and show, and settings that persist from command to command.
# Every script sets threads first: the default (one per CPU) differs by machine.
set threads=2
show settings
set seed=42
show settings
# a later set changes only what it names
set threads=1
show settings
set seed=7 threads=3
show settings
set seed=18446744073709551615
show settings
set seed=0 threads=64
show settings
# on one line
set seed=1; set threads=2; show settings
# to the value it already has
set threads=2
show settings
# quoted values are the same values; options in any order
set threads='1' seed="12"
show settings
