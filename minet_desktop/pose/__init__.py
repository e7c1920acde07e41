"""Keypoints: MediaPipe extraction, keypoint files, other skeleton formats (OpenPose JSON, Solos)."""
