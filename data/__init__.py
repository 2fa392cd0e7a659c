"""The plant dataset: its generator (`python -m data.generate`) and, once generated, plants/."""
import sys
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: datasets are generated without a lock
    fcntl = None

# The four kinds, in label order (file names start with the label: 0_... is a Rudo). The one home
# of this fact: the generator, utils.datasets and the checkpoints' class_names all read it here.
CLASS_NAMES = ("Rudo", "Baya", "Greg", "Yuki")


def ensure(root, seed: int, is_complete, generate, announce: str):
    """Generate the dataset at ``root`` unless a complete one is there; return its folder.

    One process generates at a time: two that need the data at once (two lessons started
    together, two test runs) would write the same files. The second waits for the first, then
    finds the data complete.
    """
    root = Path(root)
    if is_complete(root, seed):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        if fcntl:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_complete(root, seed):
            print(announce, file=sys.stderr)
            generate(root, seed)
    return root
