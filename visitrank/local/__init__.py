"""The local driver: the `visitrank` command line and the process-pool run of the weekly job on
a folder of contract tables."""
