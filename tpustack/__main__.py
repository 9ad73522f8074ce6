"""``python -m tpustack``: the command line (the same as the ``tpustack`` script)."""

from tpustack.cli import main

main()
