"""``tpustack.components``: the Pulumi ComponentResources of a stack, each with its own small ``*Args``.

Components know nothing of the stack file: ``tpustack.program`` derives each component's Args from the
validated config once and wires the components together. They never import the CLI, ops or the plan engine.
"""
