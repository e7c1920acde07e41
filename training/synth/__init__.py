"""Synthetic performance corpus: real melodies, FluidSynth timbres and note-driven MediaPipe-like skeletons.

``training.synth.corpus.generate`` writes a corpus in the URMP layout (``training.datasets.urmp`` reads it
unchanged); ``training.synth.report.write_report`` summarises one and draws a contact sheet.
"""
