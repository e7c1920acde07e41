"""Entry point of the frozen app: PyInstaller runs this file as ``__main__`` (see minet_desktop.spec)."""

import multiprocessing
import sys

from minet_desktop.cli import main

if __name__ == "__main__":
    # A frozen Windows/macOS executable started as a multiprocessing child must not open the app again.
    multiprocessing.freeze_support()
    sys.exit(main())
