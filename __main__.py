"""tpustack Pulumi program: stack config -> validated StackConfig -> components -> resources.

Thin on purpose: everything lives in components/. The config is validated in full before anything is
declared, so a bad stack file fails with every problem listed and no resource touched.
"""

from components.config import from_pulumi
from components.stack import build

build(from_pulumi())
