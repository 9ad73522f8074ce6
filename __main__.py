"""tpustack Pulumi program: stack config -> validated StackConfig -> components -> resources.

Thin on purpose: everything lives in the tpustack package (tpustack/program.py). The config is validated in
full, and the Kubernetes objects rendered and checked, before anything is declared, so a bad stack file fails
with every problem listed and no resource touched.
"""

from tpustack.program import run

run()
