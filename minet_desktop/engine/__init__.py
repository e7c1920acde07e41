"""Inference without Qt: a session that loads a model once, generation with progress and cancel, live streaming.

* :class:`~minet_desktop.engine.session.Session` — ``generate`` / ``iter_generate`` (keypoints [+ notes] ->
  spectrogram and waveform, any length, several takes, progress + cancel, out-of-memory fallback);
* :class:`~minet_desktop.engine.streaming.LiveGenerator` — push keypoint frames, pull audio blocks;
* :mod:`~minet_desktop.engine.backends` — model types, chosen by the bundle's ``model_type``;
* :func:`~minet_desktop.engine.inputs.load_performance` — videos, keypoint files, Solos, OpenPose.

Submodules are imported on use (``from minet_desktop.engine.session import Session``) so that importing the
package stays cheap for the CLI's ``--help``.
"""
