"""The GPU engine: NVDEC decode, batched detection in PyTorch, shard processes.

Nothing here is imported unless detector.device asks for a GPU (torch is optional).
"""
