"""Reading and writing the world: audio files, video files, MIDI."""
