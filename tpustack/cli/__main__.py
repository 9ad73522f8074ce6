"""``python -m tpustack.cli``: the command line (what the ``tpustack`` script runs)."""

from tpustack.cli import main

main()
