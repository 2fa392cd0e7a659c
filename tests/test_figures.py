"""Every figure a helper in utils/ returns shows as a PNG in Jupyter, even where pyplot never loads.

The check runs in a fresh interpreter: this test session has pyplot loaded already, and a loaded
inline backend would hide the bug (a plain Figure showing as the text ``<Figure size ...>``).
"""
import json
import subprocess
import sys

SCRIPT = r"""
import json, sys
import numpy as np
from IPython.core.interactiveshell import InteractiveShell
from matplotlib.figure import Figure
from utils.plots import plot_confusion_matrix, plot_training_curves
from utils.visualise import compare_grid, display_imagenet_output

history = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "train_acc": [0.5, 0.8],
           "val_acc": [0.4, 0.7]}
figures = {
    "plot_training_curves": plot_training_curves(history),
    "plot_confusion_matrix": plot_confusion_matrix(np.eye(2) * 3, ["a", "b"]),
    "compare_grid": compare_grid([[np.zeros((8, 8)), np.ones((8, 8, 3))]]),
    "display_imagenet_output": display_imagenet_output(np.array([0.0, 2.0]), class_names=["a", "b"]),
    "plain Figure (control)": Figure(),
}
formatter = InteractiveShell.instance().display_formatter
result = {name: sorted(formatter.format(fig)[0]) for name, fig in figures.items()}
result["png header"] = formatter.format(figures["compare_grid"])[0]["image/png"][:4].hex()
result["pyplot loaded"] = "matplotlib.pyplot" in sys.modules
print(json.dumps(result))
"""


def test_every_helper_figure_has_a_png_repr_without_pyplot():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    assert result.pop("pyplot loaded") is False
    assert result.pop("png header") == "89504e47"  # the PNG signature, "\x89PNG"
    # The control shows the bug this guards against: text only, no image.
    assert result.pop("plain Figure (control)") == ["text/plain"]
    for name, mimetypes in result.items():
        assert "image/png" in mimetypes, f"{name}: a notebook would show {mimetypes}, no image"
