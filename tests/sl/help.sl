# exit: 1
# help: the list, one command, a prefix, and names that match nothing.
help
help help
help set
help show
help echo
help source
help quit
# a prefix that matches several commands lists them; one, describes it
help s
help q
help sh
# a name that matches nothing
help nosuch
help hlep
help set show
# model kinds and their options come from the registry's tables
help model
help model mamba
help model gpt
help model hybrid
help model transformer
help model nosuch
# task kinds and their options, likewise
help task
help task recall
help task piglatin
help task nosuch
