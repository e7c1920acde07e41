"""Readers for the datasets users bring (URMP, Solos) and the common Track they produce."""
