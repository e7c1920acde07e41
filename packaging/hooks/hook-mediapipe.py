"""PyInstaller hook for MediaPipe (pyinstaller-hooks-contrib has none).

The Holistic solution (minet_desktop.pose.extract) loads its graph (``*.binarypb``) and models (``*.tflite``)
at run time from ``mediapipe/modules/`` next to the installed package, out of sight of PyInstaller's import
analysis: collect them (with the label maps), the native libraries, and every legacy solution module
(``mp.solutions`` imports them by attribute). Tests, examples and the model maker (TensorFlow) stay out.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs, collect_submodules

datas = collect_data_files(
    "mediapipe",
    includes=["modules/**/*.binarypb", "modules/**/*.tflite", "modules/**/*.txt"],
)
binaries = collect_dynamic_libs("mediapipe")
hiddenimports = collect_submodules(
    "mediapipe.python.solutions", filter=lambda name: not name.endswith("_test")
)
excludedimports = ["mediapipe.model_maker", "mediapipe.examples"]
