"""The hardening checklist (STYLE.md "Security defaults") over what a stack declares: ``checks`` (one
implementation for `tpustack check`, the tests and the Pulumi policy pack in ``pack/``). Imports only
``tpustack.core``, so the policy pack's own virtualenv needs nothing else of tpustack."""
