"""The plant dataset: its generator (`python -m data.generate`) and, once generated, plants/."""
