"""Facts shared by the infrastructure code and the pods: the accelerator catalog, names and labels, engine
facts, the error kinds. Standard library only, so every module here can run on a TPU VM or in a pod."""
