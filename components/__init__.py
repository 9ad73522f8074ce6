"""tpustack: typed stack config, accelerator catalog and the Pulumi components built from them."""
