"""The foundation every other layer stands on: errors and exit codes, the typed run
configuration, safe file writing, user directories, logging, progress, model cards, the
model I/O convention and the memory guard. Imports nothing else of the project."""
