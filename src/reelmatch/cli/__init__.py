"""Command line: a thin layer over the library (see ``reelmatch --help``)."""
