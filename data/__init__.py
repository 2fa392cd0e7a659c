"""The plant dataset: its generator (`python -m data.generate`) and, once generated, plants/."""

# The four kinds, in label order (file names start with the label: 0_... is a Rudo). The one home
# of this fact: the generator, utils.datasets and the checkpoints' class_names all read it here.
CLASS_NAMES = ("Rudo", "Baya", "Greg", "Yuki")
