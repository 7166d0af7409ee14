"""What the commands do, without the command line: turning a configuration into a ready
processor (one builder for image, video, webcam, bench and batch) and the benchmark."""
